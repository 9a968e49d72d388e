// Re-sync: connect, discover, diff the server's catalog against the stored one, and store the server's metadata
// with the added, removed and changed tools as one snapshot (docs/design.md §4). Syncs of one integration run
// one after another in a process; across processes the generation checked in the write keeps them apart.
import type { AuthProvider, OAuthClientProvider } from "@modelcontextprotocol/client";
import { afterSync } from "@/lib/agent/events";
import {
  CATALOG_KINDS,
  readCatalog,
  readIntegrationCatalog,
  writeSnapshot,
  type ListChanges,
  type Snapshot,
  type StoredCatalog,
} from "@/lib/data/catalog";
import { recordStepUpScope, setIntegrationState } from "@/lib/data/grants";
import { AppError, isAppError, notFound } from "@/lib/errors";
import { log } from "@/lib/log";
import { keyedSerializer } from "@/lib/serialize";
import { connectMcp, type McpConnection } from "@/lib/mcp/connect";
import {
  catalogKey,
  discover,
  type CatalogDefinition,
  type CatalogKind,
  type Discovery,
  type ListOutcome,
  type ToolDefinition,
} from "@/lib/mcp/discover";
import { engineIntegration, knownTransport, type EngineIntegration } from "@/lib/mcp/integration";

export type SyncDiff = {
  added: string[];
  removed: string[];
  changed: string[];
  unchanged: number;
  toolCount: number;
  /** present when the server offers resources: the same diff for them, by URI */
  resources?: ListDiff;
  /** present when the server offers resources: the same diff for resource templates, by URI template */
  resourceTemplates?: ListDiff;
  /** present when the server offers prompts: the same diff for them, by name */
  prompts?: ListDiff;
};

/** One list's re-sync diff; `failed` says why the list could not be read (then it is kept as stored). */
export type ListDiff = {
  added: string[];
  removed: string[];
  changed: string[];
  unchanged: number;
  count: number;
  failed?: string;
};

export type SyncOptions = {
  authProvider?: OAuthClientProvider | AuthProvider;
  timeoutMs?: number;
  headersTimeoutMs?: number;
};

/** Runs `fn` after any sync of the same integration in this process has finished. */
const serialized = keyedSerializer("sync");

/** Connects to the integration's server, discovers, stores. Throws AppError; records failures on the row. */
export function syncIntegration(
  userId: string,
  integrationId: string,
  opts: SyncOptions = {},
): Promise<SyncDiff> {
  return serialized(integrationId, async () => {
    // The catalog is read with the integration; the write only applies while it is still current.
    const read =
      userId && integrationId ? await readIntegrationCatalog({ userId, integrationId }) : undefined;
    if (!read) throw notFound("Integration not found");
    const integ = await engineIntegration(read.integration);
    let found: Discovery;
    try {
      found = await connectAndDiscover(integ, opts);
    } catch (err) {
      await recordFailure(integ, err);
      throw err;
    }
    const diff = await storeSnapshot(integ, found, read.catalog);
    return afterSync<SyncDiff>(userId)(diff);
  });
}

/** Connects and discovers, then closes the connection. */
async function connectAndDiscover(integ: EngineIntegration, opts: SyncOptions): Promise<Discovery> {
  const base = {
    url: integ.url,
    userId: integ.userId,
    apiKey: integ.apiKey,
    authProvider: opts.authProvider ?? integ.authProvider,
    timeoutMs: opts.timeoutMs,
    headersTimeoutMs: opts.headersTimeoutMs,
  };
  const known = knownTransport(integ);
  let conn: McpConnection;
  try {
    conn = await connectMcp({ ...base, transport: known });
  } catch (err) {
    // The server may have moved transports since last time: probe both once before giving up.
    if (!known || !isAppError(err) || err.code !== "not_mcp") throw err;
    conn = await connectMcp(base);
  }
  try {
    return await discover(
      conn,
      { url: new URL(integ.url), hasApiKey: !!integ.apiKey, oauthGranted: !!integ.authProvider },
      { timeoutMs: opts.timeoutMs },
    );
  } finally {
    await conn.close();
  }
}

async function recordFailure(integ: EngineIntegration, err: unknown): Promise<void> {
  const app = isAppError(err) ? err : undefined;
  if (!app) log.error("mcp sync failed", { integrationId: integ.id, err: String(err) });
  const status = app?.code === "needs_auth" || app?.code === "needs_reauth" ? app.code : "error";
  // The scope a 401 challenge named is what the authorization asks for (docs/oauth.md).
  if (app?.code === "needs_auth" && typeof app.details?.scope === "string")
    await recordStepUpScope(integ, app.details.scope).catch(() => undefined);
  await setIntegrationState(integ, {
    status,
    lastError: app?.message ?? "Syncing failed unexpectedly. Try again.",
  }).catch((e) => log.error("recording sync failure failed", { integrationId: integ.id, err: String(e) }));
}

/** Attempts at committing one sync while other writers keep moving the catalog on. */
const MAX_ATTEMPTS = 5;

/**
 * Diffs and writes until the write applies at the generation it was diffed against (another process's sync
 * of the same integration may commit in between: then the catalog is read and diffed anew).
 */
async function storeSnapshot(
  integ: EngineIntegration,
  found: Discovery,
  first: StoredCatalog,
): Promise<SyncDiff> {
  const owner = { userId: integ.userId, integrationId: integ.id };
  for (let attempt = 1; ; attempt++) {
    const stored = attempt === 1 ? first : await readCatalog(owner);
    if (!stored) throw notFound("Integration not found");
    const diff = diffTools(stored, found.tools);
    const lists = diffLists(stored, found);
    const applied = await writeSnapshot({
      ...owner,
      generation: stored.generation,
      server: found.server,
      refused: found.refused,
      ...diff,
      lists: lists.changes,
      listNotes: lists.notes,
    });
    if (applied) return { ...summary(diff, found.tools.length), ...lists.summaries };
    if (attempt === MAX_ATTEMPTS) {
      throw new AppError("conflict", "The integration kept changing while it synced. Try again.", 409);
    }
  }
}

type ToolDiff = { added: ToolDefinition[]; changed: ToolDefinition[]; removed: string[] };

/** Added, changed (a different definition hash) and removed tools, by name. */
export function diffTools(stored: StoredCatalog, tools: ToolDefinition[]): ToolDiff {
  const listed = new Set(tools.map((t) => t.name));
  const diff: ToolDiff = {
    added: [],
    changed: [],
    removed: [...stored.hashes.keys()].filter((name) => !listed.has(name)),
  };
  for (const t of tools) {
    const hash = stored.hashes.get(t.name);
    if (hash === undefined) diff.added.push(t);
    else if (hash !== t.definitionHash) diff.changed.push(t);
  }
  return diff;
}

function summary(diff: ToolDiff, toolCount: number): SyncDiff {
  return {
    added: diff.added.map((t) => t.name).sort(),
    removed: [...diff.removed].sort(),
    changed: diff.changed.map((t) => t.name).sort(),
    unchanged: toolCount - diff.added.length - diff.changed.length,
    toolCount,
  };
}

const NOUNS: Record<CatalogKind, [string, string]> = {
  resources: ["resource", "resources"],
  resourceTemplates: ["resource template", "resource templates"],
  prompts: ["prompt", "prompts"],
};

/** Added, changed and removed entries of one list, by its key (as diffTools does for tools). */
export function diffList<K extends CatalogKind>(
  kind: K,
  stored: Map<string, string>,
  items: CatalogDefinition[K][],
): ListChanges<K> {
  const listed = new Set(items.map((d) => catalogKey(kind, d)));
  const out: ListChanges<K> = {
    added: [],
    changed: [],
    removed: [...stored.keys()].filter((k) => !listed.has(k)),
  };
  for (const d of items) {
    const hash = stored.get(catalogKey(kind, d));
    if (hash === undefined) out.added.push(d);
    else if (hash !== d.definitionHash) out.changed.push(d);
  }
  return out;
}

/**
 * The resource, template and prompt lists' changes, summaries and notes. A list the server does not offer
 * (any more) is emptied; a list that failed is kept as stored and noted on the integration.
 */
function diffLists(stored: StoredCatalog, found: Discovery) {
  const changes: NonNullable<Snapshot["lists"]> = {};
  const summaries: Partial<Record<CatalogKind, ListDiff>> = {};
  const notes: string[] = [];
  for (const kind of CATALOG_KINDS) {
    const outcome = found[kind] as ListOutcome<typeof kind> | undefined;
    const before = stored.lists[kind];
    if (!outcome) continue;
    const [one, many] = NOUNS[kind];
    if (outcome.failed) {
      notes.push(`Could not list ${many}: ${outcome.failed}. The ${many} stored before are kept.`);
      summaries[kind] = {
        added: [],
        removed: [],
        changed: [],
        unchanged: before.size,
        count: before.size,
        failed: outcome.failed,
      };
      continue;
    }
    if (outcome.refused.length) {
      const listed = outcome.refused
        .slice(0, 5)
        .map((r) => `"${r.name}" (${r.reason})`)
        .join("; ");
      const more = outcome.refused.length > 5 ? ` and ${outcome.refused.length - 5} more` : "";
      const n = outcome.refused.length;
      notes.push(
        `Left out ${n === 1 ? `1 ${one}` : `${n} ${many}`} the database can't store as sent: ${listed}${more}.`,
      );
    }
    const d = diffList(kind, before, outcome.items as CatalogDefinition[typeof kind][]);
    (changes as Record<CatalogKind, ListChanges<CatalogKind>>)[kind] = d;
    if (!outcome.offered && !before.size) continue;
    const keys = (list: CatalogDefinition[CatalogKind][]) => list.map((x) => catalogKey(kind, x)).sort();
    summaries[kind] = {
      added: keys(d.added),
      removed: [...d.removed].sort(),
      changed: keys(d.changed),
      unchanged: outcome.items.length - d.added.length - d.changed.length,
      count: outcome.items.length,
    };
  }
  return { changes, summaries, notes };
}
