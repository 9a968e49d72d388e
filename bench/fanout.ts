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
};
export const fanOutTarget = 3;

export async function benchFanOut(o: { integrations: number; runs: number }): Promise<FanOutResult> {
  const fixtures = await startFixtures({ count: o.integrations, tools: "basic" });
  try {
    const { syncIntegration } = await import("@/lib/mcp/sync");
    const user = await createUser();
    const ids: string[] = [];
    for (const url of fixtures.urls) ids.push(await createIntegrationRow(user.id, url));
    await Promise.all(ids.map((id) => syncIntegration(user.id, id)));
    await Promise.all(fixtures.urls.map(directDiscovery));

    const s = {
      one: [] as number[],
      all: [] as number[],
      directOne: [] as number[],
      directAll: [] as number[],
    };
    for (let i = 0; i < o.runs; i++) {
      s.directOne.push((await timed(() => directDiscovery(fixtures.urls[i % ids.length]))).ms);
      s.directAll.push((await timed(() => Promise.all(fixtures.urls.map(directDiscovery)))).ms);
      s.one.push((await timed(() => syncIntegration(user.id, ids[i % ids.length]))).ms);
      s.all.push((await timed(() => Promise.all(ids.map((id) => syncIntegration(user.id, id))))).ms);
    }
    const one = median(s.one);
    const all = median(s.all);
    const d = { one: median(s.directOne), all: median(s.directAll), ratio: 0 };
    d.ratio = d.all / d.one;
    return { integrations: o.integrations, runs: o.runs, one, all, ratio: all / one, direct: d };
  } finally {
    await fixtures.stop();
  }
}

export function describeFanOut(r: FanOutResult): string[] {
  return [
    `median of ${r.runs}: one re-sync ${fmt(r.one, 1)} ms, ${r.integrations} at once ${fmt(r.all, 1)} ms → ${fmt(r.ratio)}× (target ≤ ${fanOutTarget}×)`,
    `direct SDK connect + list: one ${fmt(r.direct.one, 1)} ms, ${r.integrations} at once ${fmt(r.direct.all, 1)} ms → ${fmt(r.direct.ratio)}×`,
  ];
}
