// Discovery: connect + every tools/list page + store a 1000-tool server through the platform
// (syncIntegration, in-process, real database) vs a direct SDK connect + list of every page. Each platform
// run syncs a fresh integration, so every run stores all 1000 tools (the first-sync cost, the worst case).
import { createIntegrationRow, createUser, directDiscovery, fmt, median, startFixtures, timed } from "./lib";

export type DiscoveryResult = {
  tools: number;
  /** modelled network round trip in front of the fixture server (0: bare loopback) */
  rttMs: number;
  runs: number;
  direct: number;
  platform: number;
  ratio: number;
};
export const discoveryTarget = 2;

export async function benchDiscovery(o: {
  runs: number;
  tools: number;
  rttMs?: number;
}): Promise<DiscoveryResult> {
  const rttMs = o.rttMs ?? 0;
  const fixtures = await startFixtures({ tools: o.tools, rttMs });
  const url = fixtures.urls[0];
  try {
    const { syncIntegration } = await import("@/lib/mcp/sync");
    const user = await createUser();
    // The integration row is created before the clock starts: adding it is not part of discovery.
    const platformOnce = async (id: string) => {
      const diff = await syncIntegration(user.id, id);
      if (diff.toolCount !== o.tools) throw new Error(`synced ${diff.toolCount} tools, expected ${o.tools}`);
    };
    const directOnce = async () => {
      const n = await directDiscovery(url);
      if (n !== o.tools) throw new Error(`listed ${n} tools, expected ${o.tools}`);
    };
    // Two warm-ups each (module loading, JIT, the database's first writes), then interleaved runs.
    for (let i = 0; i < 2; i++) {
      await platformOnce(await createIntegrationRow(user.id, url));
      await directOnce();
    }
    const platform: number[] = [];
    const direct: number[] = [];
    for (let i = 0; i < o.runs; i++) {
      direct.push((await timed(directOnce)).ms);
      const id = await createIntegrationRow(user.id, url);
      platform.push((await timed(() => platformOnce(id))).ms);
    }
    const r = {
      tools: o.tools,
      rttMs,
      runs: o.runs,
      direct: median(direct),
      platform: median(platform),
      ratio: 0,
    };
    r.ratio = r.platform / r.direct;
    return r;
  } finally {
    await fixtures.stop();
  }
}

export function describeDiscovery(r: DiscoveryResult): string[] {
  return [
    `${r.tools} tools, ${r.rttMs ? `${r.rttMs} ms round trip` : "bare loopback"}, median of ${r.runs}: direct ${fmt(r.direct, 1)} ms, platform ${fmt(r.platform, 1)} ms`,
    `ratio ${fmt(r.ratio)}× (target ≤ ${discoveryTarget}×)`,
  ];
}
