// Generated tests of the catalog sync (docs/design.md §4): random sequences of server catalogs, each re-synced
// through the real engine from a real fixture server and compared, after every step, with a small pure model
// of what a sync must do. A failure prints fast-check's seed and path; FC_SEED=<seed> FC_PATH=<path> replays it.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storedTool } from "@/lib/data/catalog";
import { getDb } from "@/lib/db";
import { setToolEnabled } from "@/lib/data/integrations";
import { closeAll } from "@/lib/mcp/pool";
import { syncIntegration, type SyncDiff } from "@/lib/mcp/sync";
import { startCatalogServer, type CatalogFixture } from "./fixtures/mcp-servers";
import { generatedTools, type FixtureTool } from "./fixtures/tools";

type Definition = FixtureTool["definition"];
type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

// ---------------------------------------------------------------------------------------------------------
// The model: a tool as the catalog must store it, and the diff a sync must answer.

const FIELDS = ["title", "description", "inputSchema", "outputSchema", "annotations", "meta"] as const;
type Field = (typeof FIELDS)[number];
type StoredTool = { name: string } & Record<Field, Json>;
type Entry = { tool: StoredTool; enabled: boolean };
type Catalog = Map<string, Entry>;

/** A listed tool as it is stored: absent parts are null, the display title falls back to annotations.title. */
function stored(d: Definition): StoredTool {
  const annotations = (d.annotations as JsonObject | undefined) ?? null;
  const fallback = typeof annotations?.title === "string" ? annotations.title : null;
  return {
    name: d.name,
    title: typeof d.title === "string" ? d.title : fallback,
    description: d.description ?? null,
    inputSchema: (d.inputSchema as JsonObject | undefined) ?? { type: "object" },
    outputSchema: (d.outputSchema as JsonObject | undefined) ?? null,
    annotations,
    meta: (d._meta as JsonObject | undefined) ?? null,
  };
}

/** Two stored definitions are the same when every field serializes alike, key order included. */
const sameDefinition = (a: StoredTool, b: StoredTool) =>
  FIELDS.every((f) => JSON.stringify(a[f]) === JSON.stringify(b[f]));

/** The model's sync: the diff, and the catalog after it (enabled flags kept, added tools enabled). */
function modelSync(before: Catalog, server: Definition[]): { diff: SyncDiff; after: Catalog } {
  const after: Catalog = new Map();
  const diff: SyncDiff = { added: [], removed: [], changed: [], unchanged: 0, toolCount: server.length };
  for (const d of server) {
    const tool = stored(d);
    const old = before.get(d.name);
    if (!old) diff.added.push(d.name);
    else if (!sameDefinition(old.tool, tool)) diff.changed.push(d.name);
    else diff.unchanged++;
    after.set(d.name, { tool, enabled: old?.enabled ?? true });
  }
  diff.removed = [...before.keys()].filter((name) => !after.has(name));
  for (const list of [diff.added, diff.removed, diff.changed]) list.sort();
  return { diff, after };
}

// ---------------------------------------------------------------------------------------------------------
// The real thing: the stored catalog as Prisma reads it, in a form that shows key order.

const asStrings = (name: string, t: Record<Field, unknown>, enabled: boolean) => ({
  name,
  ...Object.fromEntries(FIELDS.map((f) => [f, JSON.stringify(t[f])])),
  enabled,
});

const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

async function expectStored(integrationId: string, model: Catalog, step: string) {
  const db = await getDb();
  const rows = await db.tool.findMany({ where: { integrationId } });
  const actual = rows.map((r) => asStrings(r.name, storedTool(r), r.enabled)).sort(byName);
  const expected = [...model.values()].map((e) => asStrings(e.tool.name, e.tool, e.enabled)).sort(byName);
  expect(actual, `stored catalog after ${step}`).toEqual(expected);
}

// ---------------------------------------------------------------------------------------------------------
// Arbitraries: tool names (case twins, unicode), texts, JSON with unicode keys, schemas, whole definitions.

const noNul = (s: string) => !s.includes("\0");

/** Names that differ only in case, non-ASCII letters, emoji (with ZWJ), astral letters. */
const NAMES = [
  "echo",
  "Echo",
  "ECHO",
  "search",
  "Search",
  "get_weather",
  "Get_Weather",
  "a.b-c_d",
  "naïve",
  "NAÏVE",
  "ß",
  "SS",
  "ツール",
  "도구",
  "😀",
  "👩‍💻 deploy",
  "𝒜lpha",
  "𝒜LPHA",
  "x",
];

const text = fc
  .oneof(
    fc.string({ unit: "binary", maxLength: 24 }),
    fc.string({ unit: "grapheme", maxLength: 12 }),
    fc.constantFrom("", "😀 emoji", "𝄞 astral", "名前と説明", "Ünïcödé", "a\nb\tc", '"q" \\ b', "🏳️‍🌈"),
  )
  .filter(noNul);

const toolName = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...NAMES) },
  { weight: 1, arbitrary: text.filter((s) => s.length > 0 && s.length <= 64) },
);

/** Object keys: schema words, integer-like keys (which JavaScript orders first), unicode, the empty key. */
const key = fc
  .oneof(
    fc.constantFrom("type", "properties", "required", "description", "items", "enum", "default", "$ref"),
    fc.constantFrom("1", "10", "2", "😀", "𝒳", "名前", "Ünï", "", "a b", "constructor", "zeta", "alpha"),
    fc.string({ unit: "binary", maxLength: 8 }),
  )
  .filter((k) => k !== "__proto__" && noNul(k));

const scalar: fc.Arbitrary<Json> = fc.oneof(
  text,
  fc.integer(),
  fc.integer({ min: -1e9, max: 1e9 }).map((i) => i / 100),
  // any finite double, 17 significant digits included
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
);

/** An object from unique-keyed entries, in the order the entries came. */
const objectOf = <T extends Json>(value: fc.Arbitrary<T>, maxKeys = 4) =>
  fc
    .uniqueArray(fc.tuple(key, value), { maxLength: maxKeys, selector: ([k]) => k })
    .map((entries) => Object.fromEntries(entries) as { [k: string]: T });

const { json } = fc.letrec<{ json: Json; array: Json[]; object: JsonObject }>((tie) => ({
  json: fc.oneof({ maxDepth: 3, depthSize: "small" }, scalar, tie("array"), tie("object")),
  array: fc.array(tie("json"), { maxLength: 3 }),
  object: objectOf(tie("json")),
}));
const jsonObject = objectOf(json);

/** A JSON Schema property: typed leaves, nested objects and arrays, or anything at all. */
const { property } = fc.letrec<{ property: JsonObject }>((tie) => ({
  property: fc.oneof(
    { maxDepth: 3, depthSize: "small" },
    fc.record(
      { type: fc.constantFrom("string", "number", "integer", "boolean"), description: text },
      { requiredKeys: ["type"] },
    ),
    fc.record({ type: fc.constant("object"), properties: objectOf(tie("property"), 3) }),
    fc.record({ type: fc.constant("array"), items: tie("property") }),
    jsonObject,
  ),
}));

/** An object schema whose top-level keys come in any order, `required` naming some of its properties. */
const objectSchema = fc
  .tuple(
    objectOf(property, 5),
    fc.boolean(),
    fc.option(jsonObject),
    fc.array(fc.nat(), { minLength: 4, maxLength: 4 }),
  )
  .map(([properties, withRequired, extra, rank]) => {
    const parts: [string, Json][] = [
      ["type", "object"],
      ["properties", properties],
      ...(withRequired ? [["required", Object.keys(properties).slice(0, 2)] as [string, Json]] : []),
      ...(extra ? [["x-extra", extra] as [string, Json]] : []),
    ];
    const order = parts.map((p, i) => ({ p, r: rank[i] ?? 0, i })).sort((a, b) => a.r - b.r || a.i - b.i);
    return Object.fromEntries(order.map(({ p }) => p)) as JsonObject;
  });

const annotations = fc
  .tuple(
    fc.record(
      {
        title: text,
        readOnlyHint: fc.boolean(),
        destructiveHint: fc.boolean(),
        idempotentHint: fc.boolean(),
        openWorldHint: fc.boolean(),
      },
      { requiredKeys: [] },
    ),
    fc.option(jsonObject),
  )
  .map(([hints, extra]) => ({ ...hints, ...(extra ? { "x-extra": extra } : {}) }) as JsonObject);

/** A definition's parts, each present or absent. */
const parts = fc.record(
  {
    title: text,
    description: text,
    inputSchema: objectSchema,
    outputSchema: objectSchema,
    annotations,
    _meta: jsonObject,
  },
  { requiredKeys: ["inputSchema"] },
);

const definition: fc.Arbitrary<Definition> = fc
  .tuple(toolName, parts)
  .map(([name, p]) => ({ name, ...p }) as Definition);

const catalog = fc.uniqueArray(definition, { maxLength: 8, selector: (d) => d.name });

/** One edit of the server's list. Indices are taken modulo the list's length. */
type Op =
  | { kind: "add"; tool: Definition }
  | { kind: "remove"; at: number }
  | { kind: "rename"; at: number; name: string }
  | { kind: "change"; at: number; field: PartKey; from: Definition }
  | { kind: "reorderKeys"; at: number; part: "inputSchema" | "properties" | "annotations" }
  | { kind: "reorderTools"; by: number }
  | { kind: "clear" };
type PartKey = "title" | "description" | "inputSchema" | "outputSchema" | "annotations" | "_meta";

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("add" as const), tool: definition }),
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("remove" as const), at: fc.nat() }) },
  fc.record({ kind: fc.constant("rename" as const), at: fc.nat(), name: toolName }),
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("change" as const),
      at: fc.nat(),
      field: fc.constantFrom<PartKey>(
        "title",
        "description",
        "inputSchema",
        "outputSchema",
        "annotations",
        "_meta",
      ),
      from: definition,
    }),
  },
  fc.record({
    kind: fc.constant("reorderKeys" as const),
    at: fc.nat(),
    part: fc.constantFrom("inputSchema" as const, "properties" as const, "annotations" as const),
  }),
  fc.record({ kind: fc.constant("reorderTools" as const), by: fc.nat() }),
  { weight: 1, arbitrary: fc.constant({ kind: "clear" as const }) },
);

/** Between syncs: enable or disable stored tools (index into the stored names, sorted). */
const toggle = fc.record({ at: fc.nat(), enabled: fc.boolean() });
const step = fc.record({
  ops: fc.array(op, { maxLength: 4 }),
  toggles: fc.array(toggle, { maxLength: 3 }),
});
type Step = { ops: Op[]; toggles: { at: number; enabled: boolean }[] };

const reversedKeys = (o: unknown) =>
  o && typeof o === "object" && !Array.isArray(o) ? Object.fromEntries(Object.entries(o).reverse()) : o;

/** The server's list after `ops`; never mutates its input (fast-check reuses generated values). */
function applyOps(list: Definition[], ops: Op[]): Definition[] {
  let next = list.map((d) => structuredClone(d));
  for (const o of ops) {
    const at = "at" in o && next.length ? o.at % next.length : -1;
    switch (o.kind) {
      case "add": {
        const i = next.findIndex((d) => d.name === o.tool.name);
        if (i >= 0) next[i] = structuredClone(o.tool);
        else next.push(structuredClone(o.tool));
        break;
      }
      case "remove":
        if (at >= 0) next.splice(at, 1);
        break;
      case "rename":
        if (at >= 0 && !next.some((d) => d.name === o.name)) next[at] = { ...next[at], name: o.name };
        break;
      case "change": {
        if (at < 0) break;
        const d = { ...next[at] } as Record<string, unknown>;
        if (o.field in o.from) d[o.field] = structuredClone(o.from[o.field]);
        else if (o.field !== "inputSchema") delete d[o.field];
        next[at] = d as Definition;
        break;
      }
      case "reorderKeys": {
        if (at < 0) break;
        const d = { ...next[at] } as Record<string, unknown>;
        if (o.part === "properties") {
          const schema = d.inputSchema as JsonObject;
          d.inputSchema = { ...schema, properties: reversedKeys(schema.properties) as Json };
        } else d[o.part] = reversedKeys(d[o.part]);
        next[at] = d as Definition;
        break;
      }
      case "reorderTools": {
        if (!next.length) break;
        const by = o.by % next.length;
        next = [...next.slice(by), ...next.slice(0, by)];
        if (o.by % 2) next.reverse();
        break;
      }
      case "clear":
        next = [];
        break;
    }
  }
  return next;
}

// ---------------------------------------------------------------------------------------------------------

/** Runs and shrinking stay bounded on a busy machine; a seed from the environment replays a failure. */
const runParams = (numRuns: number): fc.Parameters<unknown> => ({
  numRuns,
  interruptAfterTimeLimit: 60_000,
  ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {}),
  ...(process.env.FC_PATH ? { path: process.env.FC_PATH } : {}),
});

const TIMEOUT = 180_000;
let userId: string;
let n = 0;
const servers: CatalogFixture[] = [];

async function server(opts: Parameters<typeof startCatalogServer>[0] = {}): Promise<CatalogFixture> {
  const s = await startCatalogServer(opts);
  servers.push(s);
  return s;
}

async function makeIntegration(url: string): Promise<string> {
  const db = await getDb();
  return (await db.integration.create({ data: { userId, name: `prop-${++n}`, url } })).id;
}

/** Applies the toggles to the stored catalog through the product's own call, and to the model. */
async function toggleTools(integrationId: string, model: Catalog, toggles: Step["toggles"]) {
  const names = [...model.keys()].sort();
  for (const t of toggles) {
    if (!names.length) return;
    const name = names[t.at % names.length];
    await setToolEnabled({ id: userId }, integrationId, name, t.enabled);
    model.get(name)!.enabled = t.enabled;
  }
}

/** One sync through the engine, checked against the model; returns the model's catalog after it. */
async function syncAndCheck(integrationId: string, model: Catalog, list: Definition[], what: string) {
  const expected = modelSync(model, list);
  const diff = await syncIntegration(userId, integrationId);
  expect(diff, `diff of ${what}`).toEqual(expected.diff);
  await expectStored(integrationId, expected.after, what);
  return expected.after;
}

/**
 * Serves `initial` and syncs a new integration, then for each step toggles tools, changes the server's catalog
 * and re-syncs through `resync` (which checks the outcome and returns the model's catalog after it).
 */
async function runSteps(
  srv: CatalogFixture,
  initial: Definition[],
  steps: Step[],
  resync: (id: string, model: Catalog, list: Definition[], what: string) => Promise<Catalog>,
) {
  srv.setTools(initial);
  const id = await makeIntegration(srv.url);
  let list = initial;
  let model = await syncAndCheck(id, new Map(), list, "the first sync");
  for (const [i, s] of steps.entries()) {
    await toggleTools(id, model, s.toggles);
    list = applyOps(list, s.ops);
    srv.setTools(list);
    model = await resync(id, model, list, `step ${i + 1}`);
  }
}

beforeAll(async () => {
  const db = await getDb();
  userId = (await db.user.create({ data: { email: `props-${Date.now()}@example.com` } })).id;
});
afterAll(async () => {
  await closeAll();
  await Promise.all(servers.map((s) => s.close()));
});

describe("catalog sync, generated", () => {
  it(
    "after every step of random catalog changes, the diff and the stored catalog equal the model's",
    async () => {
      const srv = await server();
      // Always among the runs: "drop" is disabled, then removed alone, then listed again (and enabled again).
      const removalOnly: [Definition[], Step[]] = [
        [
          { name: "keep", inputSchema: { type: "object" } },
          { name: "drop", description: "goes", inputSchema: { type: "object" } },
        ],
        [
          { ops: [{ kind: "remove", at: 1 }], toggles: [{ at: 0, enabled: false }] },
          {
            ops: [
              { kind: "add", tool: { name: "drop", description: "goes", inputSchema: { type: "object" } } },
            ],
            toggles: [{ at: 0, enabled: false }],
          },
        ],
      ];
      await fc.assert(
        fc.asyncProperty(catalog, fc.array(step, { minLength: 1, maxLength: 6 }), (initial, steps) =>
          runSteps(srv, initial, steps, syncAndCheck),
        ),
        { ...runParams(16), examples: [removalOnly] },
      );
    },
    TIMEOUT,
  );

  it(
    "0 → 1000 tools → one removed → 0 → 1000: every tool added, removed and re-added enabled",
    async () => {
      const srv = await server({ pageSize: 100 });
      const thousand = generatedTools(1000).map((t) => t.definition);
      srv.setTools([]);
      const id = await makeIntegration(srv.url);
      let model = await syncAndCheck(id, new Map(), [], "the empty catalog");
      expect(model.size).toBe(0);
      srv.setTools(thousand);
      model = await syncAndCheck(id, model, thousand, "0 → 1000");
      await toggleTools(id, model, [{ at: 500, enabled: false }]);
      srv.setTools(thousand.slice(0, 999));
      model = await syncAndCheck(id, model, thousand.slice(0, 999), "1000 → 999 (removal alone)");
      expect(model.get("tool_0500")!.enabled).toBe(false);
      srv.setTools([]);
      model = await syncAndCheck(id, model, [], "999 → 0");
      srv.setTools(thousand);
      model = await syncAndCheck(id, model, thousand, "0 → 1000 again");
      expect([...model.values()].every((e) => e.enabled)).toBe(true);
    },
    TIMEOUT,
  );

  it("numbers in schemas keep every digit the server sent", async () => {
    const srv = await server();
    const digits = { type: "number", minimum: 0.30000000000000004, maximum: 1.0029613036020166e-307 };
    const tool: Definition = { name: "precise", inputSchema: { type: "object", properties: { x: digits } } };
    srv.setTools([tool]);
    const id = await makeIntegration(srv.url);
    const model = await syncAndCheck(id, new Map(), [tool], "the first sync");
    // Unchanged on the next sync: what was stored compares equal to what the server sends.
    await syncAndCheck(id, model, [tool], "a re-sync");
  });

  it(
    "5 concurrent re-syncs of one integration: the stored catalog is the server's, the diffs compose to the model's",
    async () => {
      const srv = await server({ mode: "sessionful" });
      await fc.assert(
        fc.asyncProperty(catalog, fc.array(step, { minLength: 1, maxLength: 3 }), (initial, steps) =>
          runSteps(srv, initial, steps, async (id, model, list, what) => {
            const expected = modelSync(model, list);
            const done: SyncDiff[] = [];
            await Promise.all(
              Array.from({ length: 5 }, () => syncIntegration(userId, id).then((d) => void done.push(d))),
            );
            expect(compose(model, done), `diffs of ${what}, in completion order`).toEqual(expected.diff);
            await expectStored(id, expected.after, what);
            return expected.after;
          }),
        ),
        runParams(8),
      );
    },
    TIMEOUT,
  );

  it(
    "concurrent syncs of 10 integrations, each its own server: each diff and catalog equal its own model",
    async () => {
      const fleet = await Promise.all(
        Array.from({ length: 10 }, (_, i) => server({ mode: i % 2 ? "sessionful" : "modern" })),
      );
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.tuple(catalog, step), { minLength: 10, maxLength: 10 }),
          async (plans) => {
            const ids = await Promise.all(fleet.map((s) => makeIntegration(s.url)));
            let lists = plans.map(([initial]) => initial);
            lists.forEach((l, i) => fleet[i].setTools(l));
            let models: Catalog[] = lists.map(() => new Map());
            for (const round of ["the first syncs", "the re-syncs"]) {
              const expected = lists.map((l, i) => modelSync(models[i], l));
              const diffs = await Promise.all(ids.map((id) => syncIntegration(userId, id)));
              for (const [i, id] of ids.entries()) {
                expect(diffs[i], `diff of integration ${i} in ${round}`).toEqual(expected[i].diff);
                await expectStored(id, expected[i].after, `integration ${i} in ${round}`);
              }
              models = expected.map((e) => e.after);
              for (const [i, [, s]] of plans.entries()) await toggleTools(ids[i], models[i], s.toggles);
              lists = lists.map((l, i) => applyOps(l, plans[i][1].ops));
              lists.forEach((l, i) => fleet[i].setTools(l));
            }
          },
        ),
        runParams(3),
      );
    },
    TIMEOUT,
  );
});

/**
 * Composes diffs in the order the syncs completed, each read against the catalog the previous ones left: every
 * removed or changed name must be there, every added one must not, and each count must match. The result is
 * the one diff from the first catalog to the last.
 */
function compose(before: Catalog, diffs: SyncDiff[]): SyncDiff {
  const names = new Set(before.keys());
  const changed = new Set<string>();
  for (const d of diffs) {
    for (const name of d.removed) {
      expect(names.has(name), `removed ${name} was stored`).toBe(true);
      names.delete(name);
      changed.add(name);
    }
    for (const name of d.changed) expect(names.has(name), `changed ${name} is stored`).toBe(true);
    for (const name of d.added) {
      expect(names.has(name), `added ${name} was not stored`).toBe(false);
      names.add(name);
    }
    d.changed.forEach((name) => changed.add(name));
    expect(d.toolCount).toBe(names.size);
    expect(d.unchanged).toBe(names.size - d.added.length - d.changed.length);
  }
  const added = [...names].filter((name) => !before.has(name)).sort();
  const removed = [...before.keys()].filter((name) => !names.has(name)).sort();
  const changedNow = [...changed].filter((name) => names.has(name) && before.has(name)).sort();
  return {
    added,
    removed,
    changed: changedNow,
    unchanged: names.size - added.length - changedNow.length,
    toolCount: names.size,
  };
}
