#!/usr/bin/env node
// `npm test`: lint, typecheck, unit, build, integration (PGlite and PostgreSQL), e2e (PGlite and PostgreSQL),
// protocol conformance. Stops at the first failing step. `npm test -- --only=unit,integration` runs a subset.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";

const PG_ADMIN = process.env.TEST_PG_URL ?? "postgresql://postgres@127.0.0.1:5432/test";
const only = process.argv
  .find((a) => a.startsWith("--only="))
  ?.slice(7)
  .split(",");
const env = { ...process.env, NEXT_TELEMETRY_DISABLED: "1" };

function run(name, cmd, args, extraEnv = {}) {
  if (only && !only.includes(name.split(":")[0])) return;
  const t0 = Date.now();
  console.log(`\n━━ ${name}: ${cmd} ${args.join(" ")}`);
  const r = spawnSync(cmd, args, { stdio: "inherit", env: { ...env, ...extraEnv } });
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  if (r.status !== 0) {
    console.error(`\n✗ ${name} failed after ${secs}s`);
    process.exit(r.status ?? 1);
  }
  console.log(`✓ ${name} (${secs}s)`);
}

async function withPgDatabase(fn) {
  const { default: pg } = await import("pg");
  const name = `poke_e2e_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(PG_ADMIN);
  url.pathname = `/${name}`;
  try {
    fn(url.toString());
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

const bin = (n) => `node_modules/.bin/${n}`;
const t0 = Date.now();
run("lint", bin("eslint"), [".", "--max-warnings=0"]);
run("lint:format", bin("prettier"), ["--check", "."]);
run("typecheck", bin("tsc"), ["--noEmit", "-p", "."]);
run("unit", bin("vitest"), ["run", "--project", "unit"]);
// The CLI and tunnel integration tests drive a running production build of the app.
run("build", bin("next"), ["build"]);
run("integration:pglite", bin("vitest"), ["run", "--project", "integration"], { TEST_DB: "pglite" });
run("integration:postgres", bin("vitest"), ["run", "--project", "integration"], { TEST_DB: "postgres" });
run("e2e:pglite", bin("playwright"), ["test"], { E2E_DB: "pglite" });
if (!only || only.includes("e2e")) {
  await withPgDatabase((url) =>
    run("e2e:postgres", bin("playwright"), ["test"], { E2E_DB: "postgres", E2E_DATABASE_URL: url }),
  );
}
// Protocol (docs/protocol.md): the official MCP conformance suite, both release lines, client scenarios against
// the engine and server scenarios against the agent endpoint; known failures are listed in docs/protocol.md.
run("conformance", process.execPath, ["scripts/conformance.mjs"]);
console.log(`\nAll checks passed in ${((Date.now() - t0) / 60000).toFixed(1)} min.`);
