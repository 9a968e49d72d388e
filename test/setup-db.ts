// Per test file: a private copy of the migrated template database, configured through lib/env.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { afterAll, inject } from "vitest";
import { setEnvForProcess } from "../lib/env";
import { historySettled } from "../lib/data/history";
import { closeDb } from "../lib/db";
import { openRunner } from "../lib/migrate";
import { PG_ADMIN_URL } from "./global-setup";

declare module "vitest" {
  export interface ProvidedContext {
    dbTemplate: string;
    dbKind: "pglite" | "postgres";
  }
}

const kind = inject("dbKind");
const template = inject("dbTemplate");
const base = {
  NODE_ENV: "test",
  SESSION_SECRET: "test-session-secret-0123456789abcdef",
  ENCRYPTION_KEYS: `test1:${Buffer.alloc(32, 7).toString("base64")}`,
  ALLOW_PRIVATE_NETWORK: "1",
  APP_URL: "http://localhost:3999",
};

let cleanup: () => Promise<void>;
if (kind === "postgres") {
  const name = `${template}_f${randomBytes(3).toString("hex")}`.replace("poke_tpl_", "poke_f_");
  const admin = await openRunner({ databaseUrl: PG_ADMIN_URL });
  await admin.exec(`CREATE DATABASE ${name} TEMPLATE ${template}`);
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  setEnvForProcess({ ...base, DATABASE_URL: url.toString(), DATA_DIR: os.tmpdir() });
  cleanup = async () => {
    await admin.exec(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.close();
  };
} else {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "poke-test-"));
  fs.cpSync(template, dir, { recursive: true });
  setEnvForProcess({ ...base, DATABASE_URL: undefined, DATA_DIR: dir });
  cleanup = async () => fs.rmSync(dir, { recursive: true, force: true });
}

afterAll(async () => {
  await historySettled();
  await closeDb();
  await cleanup();
});
