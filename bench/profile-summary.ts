// Summarizes a V8 CPU profile (node --cpu-prof): self time by function and by package or source file, and
// the inclusive time of functions matching a pattern. For reading where a benchmark's time goes.
//   tsx bench/profile-summary.ts <file.cpuprofile> [--top 30] [--match "handleRequest|syncIntegration"]
//     [--callers "writev"] [--skip-ms 5000]   (callers: the stacks under which matching frames spend self
//     time; skip-ms: ignore the first milliseconds, e.g. start-up)
import fs from "node:fs";
import { parseArgs } from "node:util";

type Node = {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
};
type Profile = { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    top: { type: "string" },
    match: { type: "string" },
    callers: { type: "string" },
    "skip-ms": { type: "string" },
  },
});
const file = positionals[0];
if (!file) {
  console.error("usage: tsx bench/profile-summary.ts <file.cpuprofile> [--top N] [--match REGEX]");
  process.exit(2);
}
const top = Number(values.top ?? 30);
const profile = JSON.parse(fs.readFileSync(file, "utf8")) as Profile;

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const self = new Map<number, number>();
const skipUs = Number(values["skip-ms"] ?? 0) * 1000;
let at = 0;
profile.samples.forEach((id, i) => {
  at += profile.timeDeltas[i] ?? 0;
  if (at >= skipUs) self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
});
const total = [...self.values()].reduce((a, b) => a + b, 0);

const where = (url: string) => {
  const m = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
  if (m) return m[1];
  const app = url.match(/\/(\.next\/server\/.*|lib\/.*|app\/.*|server\.ts|bench\/.*|test\/.*)$/);
  return app ? app[1] : url.startsWith("node:") ? url : url || "(native)";
};
const label = (n: Node) =>
  `${n.callFrame.functionName || "(anonymous)"} ${where(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;

function table(title: string, m: Map<string, number>) {
  console.log(`\n${title}`);
  for (const [k, v] of [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`${v.toFixed(1).padStart(9)} ms ${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`);
}

const fnSelf = new Map<string, number>();
const modSelf = new Map<string, number>();
for (const [id, ms] of self) {
  const n = byId.get(id)!;
  fnSelf.set(label(n), (fnSelf.get(label(n)) ?? 0) + ms);
  const mod = where(n.callFrame.url);
  modSelf.set(mod, (modSelf.get(mod) ?? 0) + ms);
}
console.log(`${file}: ${total.toFixed(0)} ms sampled`);
table("self time by package / file", modSelf);
table("self time by function", fnSelf);

if (values.match) {
  // Inclusive time: every sample under a matching frame counts once for the outermost match on its stack.
  const re = new RegExp(values.match);
  const incl = new Map<string, number>();
  for (const [id, ms] of self) {
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur)!;
      const l = label(n);
      if (re.test(l) && !seen.has(l)) {
        seen.add(l);
        incl.set(l, (incl.get(l) ?? 0) + ms);
      }
    }
  }
  table(`inclusive time of functions matching /${values.match}/`, incl);
}

if (values.callers) {
  const re = new RegExp(values.callers);
  const stacks = new Map<string, number>();
  for (const [id, ms] of self) {
    if (!re.test(label(byId.get(id)!))) continue;
    const frames: string[] = [];
    for (let cur = parent.get(id); cur !== undefined && frames.length < 12; cur = parent.get(cur)) {
      const n = byId.get(cur)!;
      if (n.callFrame.functionName || n.callFrame.url) frames.push(label(n));
    }
    const key = frames.join("\n            ← ");
    stacks.set(key, (stacks.get(key) ?? 0) + ms);
  }
  table(`stacks under which /${values.callers}/ spends self time`, stacks);
}
