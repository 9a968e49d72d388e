// `npm run bench`: the speed bar of the integrations issue, every figure a ratio (or difference) against a
// direct SDK baseline measured in the same run, loopback only, bounded counts. Prints a summary table and
// rewrites the results section of bench/README.md (raw JSON goes to bench/out/, which git ignores).
//   npm run bench [-- --only call,discovery,fanout,toolsearch] [--calls N] [--no-build] [--no-write]
//     [--cpu-prof] (the app's CPU profile to bench/out/profiles) [--postgres] (discovery and fan-out also on
//     the machine's PostgreSQL, BENCH_PG_URL or postgresql://postgres@127.0.0.1:5432/test: a scratch
//     database, dropped after)
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import {
  benchCallOverhead,
  callTargets,
  describeCallOverhead,
  type CallOverheadResult,
} from "./call-overhead";
import { benchDiscovery, describeDiscovery, discoveryTarget, type DiscoveryResult } from "./discovery";
import { benchFanOut, describeFanOut, describeSetup, FANOUT_RTT_MS, type FanOutResult } from "./fanout";
import { fmt, freshDatabase, removeDatabase, ROOT } from "./lib";
import { benchGatewayFloor, type GatewayFloorResult } from "./gateway-floor";
import { benchToolSearch, describeToolSearch, toolSearchRows, writeToolSearchSection } from "./toolsearch";

const { values } = parseArgs({
  options: {
    only: { type: "string" },
    calls: { type: "string" },
    "no-build": { type: "boolean" },
    "no-write": { type: "boolean" },
    "cpu-prof": { type: "boolean" },
    postgres: { type: "boolean" },
  },
});
const only = new Set((values.only ?? "call,discovery,fanout,toolsearch").split(",").map((s) => s.trim()));
const calls = Math.min(Math.max(Number(values.calls ?? 1000) || 1000, 10), 5000);

type Row = {
  benchmark: string;
  baseline: string;
  platform: string;
  result: string;
  target: string;
  ok: boolean;
};

function machine(): string {
  const cpus = os.cpus();
  const load = os.loadavg().map((l) => l.toFixed(1));
  return `${cpus.length} cores (${cpus[0]?.model.trim() ?? "unknown CPU"}), Node ${process.version}, load average ${load.join(" / ")}`;
}

async function main() {
  const started = new Date();
  const loadBefore = machine();
  const t0 = performance.now();
  const rows: Row[] = [];
  const raw: {
    call?: CallOverheadResult;
    floor?: GatewayFloorResult;
    discovery?: DiscoveryResult[];
    fanout?: (FanOutResult & { database: string })[];
  } = {};

  if (only.has("call")) {
    console.log("\n▶ gateway floor: a bare forwarding server, same calls (informational)");
    const f = (raw.floor = await benchGatewayFloor({ calls }));
    console.log(
      `  direct p50 ${fmt(f.direct.p50)} ms, bare gateway p50 ${fmt(f.gateway.p50)} ms → added ${fmt(f.added.p50)} ms (p99 +${fmt(f.added.p99)} ms)`,
    );
    const floorRow: Row = {
      benchmark: "call overhead p50, bare forwarding gateway (the floor here)",
      baseline: `${fmt(f.direct.p50)} ms`,
      platform: `${fmt(f.gateway.p50)} ms`,
      result: `+${fmt(f.added.p50)} ms`,
      target: "(informational)",
      ok: true,
    };
    console.log(`\n▶ call overhead (${calls} sequential calls each)`);
    const profileDir = values["cpu-prof"] ? path.join(ROOT, "bench/out/profiles") : undefined;
    const r = (raw.call = await benchCallOverhead({
      calls,
      allowBuild: !values["no-build"],
      profileDir,
    }));
    if (profileDir) console.log(`  the app's CPU profile: ${path.relative(ROOT, profileDir)}/`);
    describeCallOverhead(r).forEach((l) => console.log(`  ${l}`));
    console.log("  in-process breakdown (p50):");
    for (const [stage, ms] of Object.entries(r.breakdown))
      console.log(`    ${stage.padEnd(40)} ${fmt(ms)} ms`);
    rows.push({
      benchmark: "call overhead p50",
      baseline: `${fmt(r.direct.p50)} ms`,
      platform: `${fmt(r.app.p50)} ms`,
      result: `+${fmt(r.added.p50)} ms`,
      target: `≤ +${callTargets.p50} ms`,
      ok: r.added.p50 <= callTargets.p50,
    });
    rows.push({
      benchmark: "call overhead p99",
      baseline: `${fmt(r.direct.p99)} ms`,
      platform: `${fmt(r.app.p99)} ms`,
      result: `+${fmt(r.added.p99)} ms`,
      target: `≤ +${callTargets.p99} ms`,
      ok: r.added.p99 <= callTargets.p99,
    });
    rows.push(floorRow);
  }

  // The sync benchmarks on the default embedded database; with --postgres again on the machine's PostgreSQL
  // (informational rows: the targets are judged on the default).
  const databases = values.postgres ? [false, true] : [false];
  for (const postgres of databases) {
    if (!only.has("discovery") && !only.has("fanout")) break;
    const dir = await freshDatabase("sync", { postgres });
    const on = postgres ? ", PostgreSQL" : "";
    try {
      if (only.has("discovery")) {
        // Bare loopback is the target's setup here: no network wait hides the cost of storing the catalog.
        // The fan-out's modelled round trip is run too, for what a server in the same region sees.
        for (const rttMs of [0, FANOUT_RTT_MS]) {
          const where = rttMs ? `${rttMs} ms round trip` : "bare loopback";
          console.log(`\n▶ discovery (1000-tool server, ${where}${on})`);
          const r = await benchDiscovery({ runs: 9, tools: 1000, rttMs });
          (raw.discovery ??= []).push(r);
          describeDiscovery(r).forEach((l) => console.log(`  ${l}`));
          rows.push({
            benchmark: `discovery, 1000 tools (median of ${r.runs}), ${where}${on}`,
            baseline: `${fmt(r.direct, 1)} ms`,
            platform: `${fmt(r.platform, 1)} ms`,
            result: `${fmt(r.ratio)}×`,
            target: rttMs || postgres ? "(informational)" : `≤ ${discoveryTarget}×`,
            ok: rttMs > 0 || postgres || r.ratio <= discoveryTarget,
          });
        }
      }
      if (only.has("fanout")) {
        raw.fanout ??= [];
        // Bare loopback (the setup of earlier runs, for comparison), then the target's setup: a modelled
        // network round trip and fixture servers spread over one process per core.
        const setups = [
          { rttMs: 0, processes: 1, target: false },
          { rttMs: FANOUT_RTT_MS, processes: os.cpus().length, target: true },
        ];
        for (const setup of setups) {
          console.log(
            `\n▶ fan-out (re-sync of 50 integrations at once vs one; ${describeSetup(setup)}${on})`,
          );
          const r = await benchFanOut({ integrations: 50, runs: 5, ...setup });
          raw.fanout.push({ ...r, database: postgres ? "PostgreSQL" : "PGlite" });
          describeFanOut(r).forEach((l) => console.log(`  ${l}`));
          rows.push({
            benchmark: `fan-out, ${r.integrations} re-syncs at once (median of ${r.runs}), ${describeSetup(r)}${on}`,
            baseline: `one ${fmt(r.direct.one, 1)} ms, all ${fmt(r.direct.all, 1)} ms (${fmt(r.direct.ratio)}×)`,
            platform: `one ${fmt(r.one, 1)} ms, all ${fmt(r.all, 1)} ms`,
            result: `${fmt(r.ratio)}×`,
            target:
              setup.target && !postgres
                ? `≤ ${fmt(r.direct.ratio)}× (the direct client's)`
                : "(informational)",
            ok: !setup.target || postgres || r.ratio <= r.direct.ratio,
          });
        }
      }
    } finally {
      const { closeAll } = await import("@/lib/mcp/pool");
      await closeAll();
      await removeDatabase(dir);
    }
  }

  if (only.has("toolsearch")) {
    console.log("\n▶ tool search (search mode on real servers' tool definitions; its own README section)");
    const r = benchToolSearch();
    describeToolSearch(r).forEach((l) => console.log(`  ${l}`));
    const failed = toolSearchRows(r).filter((x) => x.ok === false);
    if (failed.length) console.log(`\nMissed: ${failed.map((x) => x.benchmark).join("; ")}`);
    if (!values["no-write"]) {
      writeToolSearchSection(r, [
        `Run ${started.toISOString().slice(0, 16).replace("T", " ")} UTC; machine: ${machine()}.`,
      ]);
    }
    // Alone, it leaves the other benchmarks' results section as it is.
    if (!rows.length) return;
  }

  const seconds = (performance.now() - t0) / 1000;
  const table = markdownTable(rows);
  console.log(`\n${table}\n`);
  const notes = [
    `Run ${started.toISOString().slice(0, 16).replace("T", " ")} UTC, ${seconds.toFixed(0)} s.`,
    `Machine at start: ${loadBefore}.`,
    `Machine at end: ${machine()}.`,
    raw.call ? `App build: ${raw.call.build}.` : "",
    raw.call?.appCpuPerCall !== undefined
      ? `Call overhead: the app process used ${fmt(raw.call.appCpuPerCall)} ms of CPU per call.`
      : "",
    ...(raw.fanout ?? []).map(
      (r) =>
        `Fan-out (${describeSetup(r)}, ${r.database}): CPU per sync in the bench process ${fmt(r.cpuPerSync.platform)} ms for the platform, ${fmt(r.cpuPerSync.direct)} ms for the direct SDK client${r.failures ? `; ${r.failures} platform re-syncs failed` : ""}.`,
    ),
  ].filter(Boolean);
  notes.forEach((n) => console.log(n));

  if (!values["no-write"]) {
    fs.mkdirSync(path.join(ROOT, "bench/out"), { recursive: true });
    fs.writeFileSync(path.join(ROOT, "bench/out/latest.json"), JSON.stringify({ started, raw }, null, 2));
    writeReadme(table, notes, raw.call);
  }
  const failed = rows.filter((r) => !r.ok);
  if (failed.length) console.log(`\nMissed: ${failed.map((r) => r.benchmark).join("; ")}`);
}

function markdownTable(rows: Row[]): string {
  const lines = [
    "| benchmark | direct SDK baseline | platform | result | target | |",
    "|---|---|---|---|---|---|",
    ...rows.map(
      (r) =>
        `| ${r.benchmark} | ${r.baseline} | ${r.platform} | ${r.result} | ${r.target} | ${r.target.startsWith("(") ? "" : r.ok ? "met" : "**missed**"} |`,
    ),
  ];
  return lines.join("\n");
}

const START = "<!-- results:start -->";
const END = "<!-- results:end -->";

/** Replaces only the generated section; the prose around it is maintained by hand. */
function writeReadme(table: string, notes: string[], call?: CallOverheadResult) {
  const file = path.join(ROOT, "bench/README.md");
  const text = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : `# Benchmarks\n\n${START}\n${END}\n`;
  const parts = [table, "", ...notes.map((n) => `- ${n}`)];
  if (call) {
    parts.push(
      "",
      "In-process breakdown of the call route's work (p50, same database, after the app stopped):",
      "",
    );
    parts.push("| stage | p50 |", "|---|---|");
    for (const [stage, ms] of Object.entries(call.breakdown)) parts.push(`| ${stage} | ${fmt(ms)} ms |`);
  }
  const section = `${START}\n${parts.join("\n")}\n${END}`;
  const next = text.includes(START)
    ? text.replace(new RegExp(`${START}[\\s\\S]*?${END}`), section)
    : `${text}\n${section}\n`;
  fs.writeFileSync(file, next);
  // The repository's format check covers this file: align the generated tables the way Prettier does.
  spawnSync(path.join(ROOT, "node_modules/.bin/prettier"), ["--write", file], { stdio: "ignore" });
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error("bench failed:", err);
    process.exit(1);
  },
);
