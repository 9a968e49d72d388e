// Integration runs use a fresh database per run: PGlite (default) or PostgreSQL (TEST_DB=postgres).
// A migrated template is prepared once; each test file gets its own copy (test/setup-db.ts).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { migrate, openRunner } from "../lib/migrate";

export const PG_ADMIN_URL = process.env.TEST_PG_URL ?? "postgresql://postgres@127.0.0.1:5432/test";

export default async function setup({ provide }: { provide: (k: string, v: string) => void }) {
  const kind = process.env.TEST_DB === "postgres" ? "postgres" : "pglite";
  const run = `${process.pid}_${randomBytes(4).toString("hex")}`;
  if (kind === "postgres") {
    const tpl = `poke_tpl_${run}`;
    const admin = await openRunner({ databaseUrl: PG_ADMIN_URL });
    await admin.exec(`CREATE DATABASE ${tpl}`);
    const url = new URL(PG_ADMIN_URL);
    url.pathname = `/${tpl}`;
    const r = await openRunner({ databaseUrl: url.toString() });
    await migrate(r);
    await r.close();
    provide("dbTemplate", tpl);
    provide("dbKind", kind);
    return async () => {
      // drop the template and any per-file database this run left behind
      const left = await admin.rows<{ datname: string }>(
        `SELECT datname FROM pg_database WHERE datname LIKE $1`,
        [`poke_%${run}%`],
      );
      for (const { datname } of left) await admin.exec(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
      await admin.close();
    };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "poke-tpl-"));
  const r = await openRunner({ pgliteDir: path.join(dir, "pglite") });
  await migrate(r);
  await r.close();
  provide("dbTemplate", dir);
  provide("dbKind", kind);
  return () => fs.rmSync(dir, { recursive: true, force: true });
}
