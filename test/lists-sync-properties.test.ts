// Generated tests of the resource, resource template and prompt sync (docs/design.md §4): random sequences of
// a server's lists — fresh lists, and removal-only steps that keep a random part of the previous ones — each
// re-synced through the real engine from a real fixture server and compared, after every step, with a small
// pure model of what a sync must answer and store. FC_SEED=<seed> FC_PATH=<path> replays a failure.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getDb } from "@/lib/db";
import { closeAll } from "@/lib/mcp/pool";
import { syncIntegration, type ListDiff } from "@/lib/mcp/sync";
import { startListsServer, type Lists, type ListsFixture } from "./fixtures/lists-server";

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Kind = keyof Lists;
const KINDS: Kind[] = ["resources", "resourceTemplates", "prompts"];
const KEY: Record<Kind, string> = { resources: "uri", resourceTemplates: "uriTemplate", prompts: "name" };

// ---------------------------------------------------------------------------------------------------------
// The model: each entry as it must be stored (every field, JSON as text), and the diff a sync must answer.

type Row = Record<string, Json>;
type Model = Record<Kind, Map<string, Row>>;

const asText = (v: unknown) => (v === undefined || v === null ? null : JSON.stringify(v));

function stored(kind: Kind, e: Record<string, unknown>): Row {
  const common = {
    title: (e.title as string | undefined) ?? null,
    description: (e.description as string | undefined) ?? null,
    meta: asText(e._meta),
  };
  if (kind === "prompts") return { name: e.name as string, ...common, arguments: asText(e.arguments) };
  const base = {
    name: e.name as string,
    ...common,
    mimeType: (e.mimeType as string | undefined) ?? null,
    annotations: asText(e.annotations),
  };
  if (kind === "resourceTemplates") return { uriTemplate: e.uriTemplate as string, ...base };
  return { uri: e.uri as string, ...base, size: (e.size as number | undefined) ?? null };
}

function modelSync(before: Model, lists: Lists): { diffs: Record<Kind, ListDiff>; after: Model } {
  const after = {} as Model;
  const diffs = {} as Record<Kind, ListDiff>;
  for (const kind of KINDS) {
    const old = before[kind];
    const now = new Map<string, Row>();
    const d: ListDiff = { added: [], removed: [], changed: [], unchanged: 0, count: 0 };
    for (const e of lists[kind] as Record<string, unknown>[]) {
      const key = e[KEY[kind]] as string;
      const row = stored(kind, e);
      const prior = old.get(key);
      if (!prior) d.added.push(key);
      else if (JSON.stringify(prior) !== JSON.stringify(row)) d.changed.push(key);
      else d.unchanged++;
      now.set(key, row);
    }
    d.removed = [...old.keys()].filter((k) => !now.has(k));
    d.count = now.size;
    for (const l of [d.added, d.removed, d.changed]) l.sort();
    after[kind] = now;
    diffs[kind] = d;
  }
  return { diffs, after };
}

const empty = (): Model => ({ resources: new Map(), resourceTemplates: new Map(), prompts: new Map() });

// ---------------------------------------------------------------------------------------------------------
// The real thing.

const sortByKey = (key: string) => (a: Row, b: Row) => (String(a[key]) < String(b[key]) ? -1 : 1);

async function expectStored(integrationId: string, model: Model, step: string) {
  const db = await getDb();
  const pick = (r: Record<string, unknown>, like: Row) =>
    Object.fromEntries(Object.keys(like).map((k) => [k, r[k] as Json]));
  const rows = {
    resources: await db.resource.findMany({ where: { integrationId } }),
    resourceTemplates: await db.resourceTemplate.findMany({ where: { integrationId } }),
    prompts: await db.prompt.findMany({ where: { integrationId } }),
  };
  for (const kind of KINDS) {
    const expected = [...model[kind].values()].sort(sortByKey(KEY[kind]));
    const actual = (rows[kind] as Record<string, unknown>[])
      .map((r) => pick(r, stored(kind, { [KEY[kind]]: "", name: "" })))
      .sort(sortByKey(KEY[kind]));
    expect(actual, `stored ${kind} after ${step}`).toEqual(expected);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Arbitraries: keys from small pools (so steps overlap), unicode texts, optional parts.

const text = fc
  .oneof(
    fc.string({ unit: "grapheme", maxLength: 12 }),
    fc.constantFrom("", "😀 emoji", "𝄞 astral", "名前と説明", "Ünïcödé", "a\nb\tc", '"q" \\ b'),
  )
  .filter((s) => !s.includes("\0") && s.isWellFormed());

const annotations = fc.record(
  {
    audience: fc.constantFrom(["user"], ["assistant"], ["user", "assistant"]),
    priority: fc.double({ min: 0, max: 1, noNaN: true }),
  },
  { requiredKeys: [] },
);
const meta = fc.dictionary(fc.constantFrom("a", "z", "1", "ü"), fc.oneof(text, fc.integer()), { maxKeys: 2 });

const optional = {
  title: text,
  description: text,
  _meta: meta,
};

const resource = fc.record(
  {
    uri: fc.constantFrom(
      "file:///a.txt",
      "file:///b.txt",
      "mem://c",
      "https://x.example/d?q=1",
      "file:///ünï/😀",
    ),
    name: fc.constantFrom("a", "b", "Ä", "same"),
    mimeType: fc.constantFrom("text/plain", "application/json", "image/png"),
    size: fc.nat({ max: 2 ** 40 }),
    annotations,
    ...optional,
  },
  { requiredKeys: ["uri", "name"] },
);
const template = fc.record(
  {
    uriTemplate: fc.constantFrom("file:///{path}", "mem://{a}/{b}", "https://x.example/{id}"),
    name: fc.constantFrom("t", "T", "ü"),
    mimeType: fc.constantFrom("text/plain", "application/json"),
    annotations,
    ...optional,
  },
  { requiredKeys: ["uriTemplate", "name"] },
);
const prompt = fc.record(
  {
    name: fc.constantFrom("p", "P", "summarize", "ツール", "😀"),
    arguments: fc.uniqueArray(
      fc.record(
        { name: fc.constantFrom("topic", "lang", "n"), description: text, required: fc.boolean() },
        { requiredKeys: ["name"] },
      ),
      { maxLength: 3, selector: (a) => a.name },
    ),
    ...optional,
  },
  { requiredKeys: ["name"] },
);

const lists: fc.Arbitrary<Lists> = fc.record({
  resources: fc.uniqueArray(resource, { maxLength: 5, selector: (r) => r.uri }),
  resourceTemplates: fc.uniqueArray(template, { maxLength: 3, selector: (t) => t.uriTemplate }),
  prompts: fc.uniqueArray(prompt, { maxLength: 5, selector: (p) => p.name }),
});

/** A step: fresh lists, or removal only (each entry of the previous lists kept or dropped). */
type Step = { kind: "lists"; lists: Lists } | { kind: "drop"; keep: boolean[] };
const step: fc.Arbitrary<Step> = fc.oneof(
  lists.map((l) => ({ kind: "lists" as const, lists: l })),
  fc.array(fc.boolean(), { minLength: 13, maxLength: 13 }).map((keep) => ({ kind: "drop" as const, keep })),
);

function apply(prev: Lists, s: Step): Lists {
  if (s.kind === "lists") return s.lists;
  let i = 0;
  const keep = () => s.keep[i++ % s.keep.length];
  return {
    resources: prev.resources.filter(keep),
    resourceTemplates: prev.resourceTemplates.filter(keep),
    prompts: prev.prompts.filter(keep),
  };
}

const runParams = (numRuns: number): fc.Parameters<unknown> => ({
  numRuns,
  interruptAfterTimeLimit: 60_000,
  ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {}),
  ...(process.env.FC_PATH ? { path: process.env.FC_PATH } : {}),
});

let srv: ListsFixture;
let userId: string;
let n = 0;

beforeAll(async () => {
  srv = await startListsServer({ pageSize: 2 });
  const db = await getDb();
  userId = (await db.user.create({ data: { email: `lists-props-${Date.now()}@example.com` } })).id;
});
afterAll(async () => {
  await closeAll();
  await srv.close();
});

async function run(initial: Lists, steps: Step[]) {
  const db = await getDb();
  srv.set(initial);
  const id = (
    await db.integration.create({ data: { userId, name: `lp-${++n}`, url: srv.url, authKind: "none" } })
  ).id;
  let model = empty();
  let current = initial;
  const sequence = [{ lists: initial, what: "the first sync" }];
  for (const [i, s] of steps.entries()) {
    current = apply(current, s);
    sequence.push({
      lists: current,
      what: `step ${i + 1} (${s.kind === "drop" ? "removal only" : "new lists"})`,
    });
  }
  try {
    for (const { lists: l, what } of sequence) {
      srv.set(l);
      const expected = modelSync(model, l);
      const diff = await syncIntegration(userId, id);
      for (const kind of KINDS) expect(diff[kind], `${kind} diff of ${what}`).toEqual(expected.diffs[kind]);
      await expectStored(id, expected.after, what);
      model = expected.after;
    }
  } finally {
    await db.integration.delete({ where: { id } });
  }
}

describe("resource, template and prompt sync, generated", () => {
  it("after every step (removal-only steps included), the diffs and the stored lists equal the model's", async () => {
    const removalOnly: [Lists, Step[]] = [
      {
        resources: [
          { uri: "file:///a.txt", name: "a" },
          { uri: "mem://c", name: "c" },
        ],
        resourceTemplates: [{ uriTemplate: "file:///{path}", name: "t" }],
        prompts: [{ name: "p" }, { name: "P" }],
      },
      [
        { kind: "drop", keep: [true, false, false, false, true] },
        { kind: "drop", keep: [false] },
      ],
    ];
    await fc.assert(
      fc.asyncProperty(lists, fc.array(step, { minLength: 1, maxLength: 5 }), (initial, steps) =>
        run(initial, steps),
      ),
      { ...runParams(16), examples: [removalOnly] },
    );
  }, 180_000);
});
