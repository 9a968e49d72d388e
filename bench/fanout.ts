// Fan-out: re-sync of 50 integrations at once (Promise.all of syncIntegration, each on its own fixture
// server) vs the re-sync of one, wall time. The integrations are synced once before measuring, so this is
// the "Re-sync" path (tool definitions unchanged), as a scheduled or scripted re-sync of everything is.
// The same ratio for a direct SDK connect + list shows what loopback allows: with no network latency to
// overlap, one sync is CPU-bound, and 50 of them share one event loop.
import { createIntegrationRow, createUser, directDiscovery, fmt, median, startFixtures, timed } from "./lib";

export type FanOutResult = {
  integrations: number;
  runs: number;
  one: number;
  all: number;
  ratio: number;
  direct: { one: number; all: number; ratio: number };
  /** platform re-syncs that failed during the 50-way runs (they still count in the wall time) */
  failures: number;
};
export const fanOutTarget = 3;

export async function benchFanOut(o: { integrations: number; runs: number }): Promise<FanOutResult> {
  const fixtures = await startFixtures({ count: o.integrations, tools: "basic" });
  try {
    const { syncIntegration } = await import("@/lib/mcp/sync");
    const user = await createUser();
    const ids: string[] = [];
    for (const url of fixtures.urls) ids.push(await createIntegrationRow(user.id, url));
    await Promise.allSettled(ids.map((id) => syncIntegration(user.id, id)));
    await Promise.allSettled(fixtures.urls.map(directDiscovery));
    let failures = 0;

    const s = {
      one: [] as number[],
      all: [] as number[],
      directOne: [] as number[],
      directAll: [] as number[],
    };
    for (let i = 0; i < o.runs; i++) {
      s.directOne.push((await timed(() => directDiscovery(fixtures.urls[i % ids.length]))).ms);
      s.directAll.push((await timed(() => Promise.allSettled(fixtures.urls.map(directDiscovery)))).ms);
      s.one.push((await timed(() => syncIntegration(user.id, ids[i % ids.length]))).ms);
      // allSettled: under heavy machine load a fixture may reset a connection; count it, don't abort the run.
      const all = await timed(() => Promise.allSettled(ids.map((id) => syncIntegration(user.id, id))));
      failures += all.value.filter((r) => r.status === "rejected").length;
      s.all.push(all.ms);
    }
    const one = median(s.one);
    const all = median(s.all);
    const d = { one: median(s.directOne), all: median(s.directAll), ratio: 0 };
    d.ratio = d.all / d.one;
    return { integrations: o.integrations, runs: o.runs, one, all, ratio: all / one, direct: d, failures };
  } finally {
    await fixtures.stop();
  }
}

export function describeFanOut(r: FanOutResult): string[] {
  return [
    `median of ${r.runs}: one re-sync ${fmt(r.one, 1)} ms, ${r.integrations} at once ${fmt(r.all, 1)} ms → ${fmt(r.ratio)}× (target ≤ ${fanOutTarget}×)`,
    ...(r.failures ? [`${r.failures} re-sync(s) failed during the runs`] : []),
    `direct SDK connect + list: one ${fmt(r.direct.one, 1)} ms, ${r.integrations} at once ${fmt(r.direct.all, 1)} ms → ${fmt(r.direct.ratio)}×`,
  ];
}
