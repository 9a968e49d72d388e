// Fan-out: re-sync of 50 integrations at once (Promise.all of syncIntegration, each on its own fixture
// server) vs the re-sync of one, wall time. The integrations are synced once before measuring, so this is
// the "Re-sync" path (tool definitions unchanged), as a scheduled or scripted re-sync of everything is.
// The same ratio for a direct SDK connect + list is measured alongside, on the same servers.
//
// Two setups. On bare loopback one sync has no network wait to overlap: it is pure CPU (the platform's and
// the fixture servers'), so 50 at once can at best take 50 × that CPU ÷ the cores — the direct SDK client
// included. With a modelled round trip (bench/fixture-host.ts --rtt-ms) a sync waits on the network as it
// would on any real deployment, and the question the benchmark asks can be answered: do 50 syncs overlap
// their waits, or does something serialize them? Servers are spread over one host process per core there,
// so the fixtures' own event loop is not what is measured.
import { createIntegrationRow, createUser, directDiscovery, fmt, median, startFixtures, timed } from "./lib";

export type FanOutResult = {
  integrations: number;
  /** modelled network round trip in front of every fixture server (0: bare loopback) */
  rttMs: number;
  /** fixture host processes the servers were spread over */
  processes: number;
  runs: number;
  one: number;
  all: number;
  ratio: number;
  direct: { one: number; all: number; ratio: number };
  /** platform re-syncs that failed during the 50-way runs (they still count in the wall time) */
  failures: number;
  /** CPU time (user + system) of this process per sync during the 50-way runs, ms: platform vs direct */
  cpuPerSync: { platform: number; direct: number };
};
/**
 * The modelled round trip for the target's setup: a server in the same cloud region. Servers across the
 * internet are usually further away (50–150 ms), which gives syncs more waiting to overlap, not less.
 */
export const FANOUT_RTT_MS = 20;

export async function benchFanOut(o: {
  integrations: number;
  runs: number;
  rttMs?: number;
  processes?: number;
}): Promise<FanOutResult> {
  const rttMs = o.rttMs ?? 0;
  const processes = o.processes ?? 1;
  const fixtures = await startFixtures({ count: o.integrations, tools: "basic", rttMs, processes });
  try {
    const { syncIntegration } = await import("@/lib/mcp/sync");
    const user = await createUser();
    const ids: string[] = [];
    for (const url of fixtures.urls) ids.push(await createIntegrationRow(user.id, url));
    await Promise.allSettled(ids.map((id) => syncIntegration(user.id, id)));
    await Promise.allSettled(fixtures.urls.map(directDiscovery));
    let failures = 0;

    const cpu = { platform: 0, direct: 0 };
    const cpuOf = async (key: keyof typeof cpu, fn: () => Promise<unknown>) => {
      const c0 = process.cpuUsage();
      const out = await fn();
      const c = process.cpuUsage(c0);
      cpu[key] += (c.user + c.system) / 1000;
      return out;
    };
    const s = {
      one: [] as number[],
      all: [] as number[],
      directOne: [] as number[],
      directAll: [] as number[],
    };
    for (let i = 0; i < o.runs; i++) {
      s.directOne.push((await timed(() => directDiscovery(fixtures.urls[i % ids.length]))).ms);
      s.directAll.push(
        (await timed(() => cpuOf("direct", () => Promise.allSettled(fixtures.urls.map(directDiscovery))))).ms,
      );
      s.one.push((await timed(() => syncIntegration(user.id, ids[i % ids.length]))).ms);
      // allSettled: under heavy machine load a fixture may reset a connection; count it, don't abort the run.
      const all = await timed(() =>
        cpuOf("platform", () => Promise.allSettled(ids.map((id) => syncIntegration(user.id, id)))),
      );
      failures += (all.value as PromiseSettledResult<unknown>[]).filter(
        (r) => r.status === "rejected",
      ).length;
      s.all.push(all.ms);
    }
    const one = median(s.one);
    const all = median(s.all);
    const d = { one: median(s.directOne), all: median(s.directAll), ratio: 0 };
    d.ratio = d.all / d.one;
    return {
      integrations: o.integrations,
      rttMs,
      processes,
      runs: o.runs,
      one,
      all,
      ratio: all / one,
      direct: d,
      failures,
      cpuPerSync: {
        platform: cpu.platform / (o.runs * o.integrations),
        direct: cpu.direct / (o.runs * o.integrations),
      },
    };
  } finally {
    await fixtures.stop();
  }
}

export function describeFanOut(r: FanOutResult): string[] {
  return [
    `${describeSetup(r)}`,
    `median of ${r.runs}: one re-sync ${fmt(r.one, 1)} ms, ${r.integrations} at once ${fmt(r.all, 1)} ms → ${fmt(r.ratio)}× (target ≤ the direct client's ${fmt(r.direct.ratio)}×)`,
    ...(r.failures ? [`${r.failures} re-sync(s) failed during the runs`] : []),
    `direct SDK connect + list: one ${fmt(r.direct.one, 1)} ms, ${r.integrations} at once ${fmt(r.direct.all, 1)} ms → ${fmt(r.direct.ratio)}×`,
    `CPU per sync in this process (fixture servers excluded): platform ${fmt(r.cpuPerSync.platform)} ms, direct SDK client ${fmt(r.cpuPerSync.direct)} ms`,
  ];
}

export function describeSetup(r: Pick<FanOutResult, "rttMs" | "processes">): string {
  const hosts = `${r.processes} fixture host process${r.processes === 1 ? "" : "es"}`;
  return r.rttMs ? `${r.rttMs} ms round trip, ${hosts}` : `bare loopback, ${hosts}`;
}
