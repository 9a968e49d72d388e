// Integrations, owner-scoped: every query is filtered by the caller's user id; a foreign id is "not found".
import { randomUUID } from "node:crypto";
import type { Prisma } from "@prisma/client";
import { emitToolsChanged } from "@/lib/agent/events";
import { audit } from "@/lib/data/audit";
import { integrationsChanged } from "@/lib/data/changes";
import { storedTool, toolDefinitionSelect } from "@/lib/data/catalog";
import { recordCall, type CallSource, type CallVia } from "@/lib/data/history";
import { aad, encryptField } from "@/lib/crypto";
import { getDb, isUniqueViolation } from "@/lib/db";
import { AppError, isAppError, notFound } from "@/lib/errors";
import { runDoctor, type DoctorStep } from "@/lib/mcp/doctor";
import { callTool, dropSession, type CallOptions } from "@/lib/mcp/pool";
import { taskSupportOf } from "@/lib/mcp/tasks";
import { syncIntegration, type SyncDiff } from "@/lib/mcp/sync";
import { validateUserUrl } from "@/lib/net/egress";
import { observeToolCall } from "@/lib/metrics";
import { disconnectOAuth, oauthStatus } from "@/lib/oauth/grant";
import type { SessionUser } from "@/lib/data/users";
import {
  integrationCreateSchema,
  integrationUpdateSchema,
  toolCallSchema,
  type IntegrationCreateInput,
  type IntegrationUpdateInput,
  type ToolCallInput,
} from "@/lib/schemas/integrations";

type Owner = Pick<SessionUser, "id">;

/** What pages and the API may show: never the key itself. */
const publicSelect = {
  id: true,
  name: true,
  url: true,
  transport: true,
  authKind: true,
  status: true,
  lastError: true,
  syncNotice: true,
  serverName: true,
  serverTitle: true,
  serverVersion: true,
  protocolVersion: true,
  protocolEra: true,
  instructions: true,
  capabilities: true,
  storePayloads: true,
  lastSyncedAt: true,
  createdAt: true,
  updatedAt: true,
  templateId: true,
  apiKeyEnc: true,
} satisfies Prisma.IntegrationSelect;

type Row = Prisma.IntegrationGetPayload<{ select: typeof publicSelect }>;
const present = ({ apiKeyEnc, ...row }: Row) => ({ ...row, hasApiKey: !!apiKeyEnc });
export type IntegrationView = ReturnType<typeof present>;

export type ConnectResult = {
  integration: IntegrationView;
  diff?: SyncDiff;
  error?: { code: string; message: string };
};

async function findOwned(user: Owner, id: string): Promise<Row> {
  const db = await getDb();
  const row = await db.integration.findFirst({ where: { id, userId: user.id }, select: publicSelect });
  if (!row) throw notFound("Integration not found");
  return row;
}

export async function listIntegrations(user: Owner) {
  const db = await getDb();
  const rows = await db.integration.findMany({
    where: { userId: user.id },
    orderBy: { name: "asc" },
    select: { ...publicSelect, _count: { select: { tools: true } } },
  });
  return rows.map(({ _count, ...r }) => ({ ...present(r), toolCount: _count.tools }));
}

export async function getIntegration(user: Owner, id: string) {
  return present(await findOwned(user, id));
}

export async function listTools(user: Owner, integrationId: string) {
  const db = await getDb();
  const row = await db.integration.findFirst({
    where: { id: integrationId, userId: user.id },
    select: {
      tools: {
        orderBy: { name: "asc" },
        select: {
          ...toolDefinitionSelect,
          enabled: true,
          definitionHash: true,
          changedAt: true,
          updatedAt: true,
          execution: true,
        },
      },
    },
  });
  if (!row) throw notFound("Integration not found");
  // `taskSupport`: "required" | "optional" | "forbidden" | null, from the tool's stored `execution`.
  return row.tools.map(({ execution, ...t }) => ({
    ...storedTool(t),
    taskSupport: taskSupportOf(execution),
  }));
}

/** Connects (sync) and reports the outcome on the integration instead of throwing connection errors. */
async function connectAndReport(user: Owner, id: string): Promise<ConnectResult> {
  try {
    const diff = await syncIntegration(user.id, id);
    return { integration: await getIntegration(user, id), diff };
  } catch (e) {
    if (!isAppError(e) || e.code === "not_found") throw e;
    return { integration: await getIntegration(user, id), error: { code: e.code, message: e.message } };
  }
}

export async function createIntegration(user: Owner, input: IntegrationCreateInput): Promise<ConnectResult> {
  const { name, url, apiKey } = integrationCreateSchema.parse(input);
  const normalized = validateUserUrl(url).href;
  const id = randomUUID();
  const db = await getDb();
  try {
    await db.integration.create({
      data: {
        id,
        userId: user.id,
        name,
        url: normalized,
        authKind: apiKey ? "api_key" : "none",
        apiKeyEnc: apiKey ? encryptField(apiKey, aad("Integration", "apiKeyEnc", id)) : null,
      },
    });
  } catch (e) {
    if (isUniqueViolation(e))
      throw new AppError("name_taken", `You already have an integration named "${name}"`, 409);
    throw e;
  }
  integrationsChanged({ userId: user.id, integrationId: id });
  await audit(
    user.id,
    "integration.create",
    { type: "integration", id },
    { url: new URL(normalized).origin },
  );
  return connectAndReport(user, id);
}

export async function updateIntegration(
  user: Owner,
  id: string,
  input: IntegrationUpdateInput,
): Promise<ConnectResult> {
  const patch = integrationUpdateSchema.parse(input);
  const current = await findOwned(user, id);
  const data: Prisma.IntegrationUpdateInput = {};
  if (patch.name !== undefined) data.name = patch.name;
  if (patch.storePayloads !== undefined) data.storePayloads = patch.storePayloads;
  const urlChanged = patch.url !== undefined && validateUserUrl(patch.url).href !== current.url;
  if (urlChanged) {
    data.url = validateUserUrl(patch.url!).href;
    data.transport = null; // probe again
  }
  if (patch.apiKey !== undefined) {
    data.apiKeyEnc = patch.apiKey ? encryptField(patch.apiKey, aad("Integration", "apiKeyEnc", id)) : null;
    if (current.authKind !== "oauth") data.authKind = patch.apiKey ? "api_key" : "none";
  }
  const db = await getDb();
  try {
    await db.integration.update({ where: { id, userId: user.id }, data });
  } catch (e) {
    if (isUniqueViolation(e))
      throw new AppError("name_taken", `You already have an integration named "${patch.name}"`, 409);
    throw e;
  }
  integrationsChanged({ userId: user.id, integrationId: id });
  await audit(
    user.id,
    "integration.update",
    { type: "integration", id },
    {
      fields: Object.keys(data)
        .filter((k) => k !== "apiKeyEnc")
        .concat(patch.apiKey !== undefined ? ["apiKey"] : []),
    },
  );
  const reconnect = urlChanged || patch.apiKey !== undefined;
  if (patch.name !== undefined && patch.name !== current.name) emitToolsChanged(user.id); // tool names embed it
  if (!reconnect) return { integration: await getIntegration(user, id) };
  await dropSession(user.id, id);
  return connectAndReport(user, id);
}

export async function deleteIntegration(user: Owner, id: string): Promise<void> {
  const row = await findOwned(user, id);
  await dropSession(user.id, id);
  // Tokens are deleted first, then revocation is attempted; a failed revocation never blocks deletion.
  if (row.authKind === "oauth") await disconnectOAuth(user.id, id).catch(() => undefined);
  const db = await getDb();
  await db.integration.deleteMany({ where: { id, userId: user.id } });
  integrationsChanged({ userId: user.id, integrationId: id });
  emitToolsChanged(user.id);
  await audit(user.id, "integration.delete", { type: "integration", id });
}

/** OAuth state for display (issuer, scopes, expiry; never tokens), or null for non-OAuth integrations. */
export async function getOAuthState(user: Owner, id: string) {
  return oauthStatus(user.id, id);
}

export async function disconnectIntegration(user: Owner, id: string) {
  return disconnectOAuth(user.id, id);
}

export async function resyncIntegration(user: Owner, id: string): Promise<SyncDiff> {
  await dropSession(user.id, id);
  return syncIntegration(user.id, id);
}

export async function setToolEnabled(user: Owner, integrationId: string, toolName: string, enabled: boolean) {
  const db = await getDb();
  const res = await db.tool.updateMany({
    where: { integrationId, name: toolName, integration: { userId: user.id } },
    data: { enabled },
  });
  if (!res.count) throw notFound("Tool not found");
  integrationsChanged({ userId: user.id, integrationId });
  emitToolsChanged(user.id); // the agent endpoint's tool list follows
}

export async function diagnoseIntegration(user: Owner, id: string): Promise<DoctorStep[]> {
  return runDoctor(user.id, id);
}

/** Calls a tool and records the call (without payloads unless the integration opted in). */
export async function callIntegrationTool(
  user: Owner,
  integrationId: string,
  toolName: string,
  input: ToolCallInput,
  source: CallSource,
  opts: { signal?: AbortSignal; via?: CallVia; onprogress?: CallOptions["onprogress"] } = {},
) {
  const { arguments: args, timeoutMs } = toolCallSchema.parse(input);
  const started = Date.now();
  const integ = { id: integrationId, storePayloads: false };
  try {
    // callTool checks ownership (a foreign id is not found) before anything is sent.
    const out = await callTool({ userId: user.id, integrationId }, toolName, args, {
      timeoutMs,
      signal: opts.signal,
      onprogress: opts.onprogress,
    });
    // The answer waits for its history row's commit (group-committed with concurrent calls, lib/data/history.ts).
    await recordCall(
      user,
      { ...integ, storePayloads: out.storePayloads },
      toolName,
      source,
      out.result.isError ? "tool_error" : "ok",
      out.latencyMs,
      { args, result: out.result },
      opts.via,
    );
    observeToolCall(source, out.result.isError ? "tool_error" : "ok", out.latencyMs / 1000);
    return out;
  } catch (e) {
    const code = isAppError(e) ? e.code : "error";
    observeToolCall(source, UNRECORDED.has(code) ? code : statusOf(code), (Date.now() - started) / 1000);
    // Calls refused before anything was sent are not activity; rate-limit refusals are skipped too, or a
    // flood of them would turn into a flood of writes.
    if (!UNRECORDED.has(code)) {
      const { storePayloads } = await findOwned(user, integrationId);
      await recordCall(
        user,
        { ...integ, storePayloads },
        toolName,
        source,
        statusOf(code),
        Date.now() - started,
        {
          args,
          error: isAppError(e) ? e.message : "internal error",
        },
        opts.via,
      );
    }
    throw e;
  }
}

const UNRECORDED = new Set(["not_found", "invalid_arguments", "tool_disabled", "too_many_calls"]);
const REJECTED = new Set(["circuit_open", "too_many_concurrent_calls", "busy"]);
const statusOf = (code: string) =>
  code === "timeout" ? "timeout" : REJECTED.has(code) ? "rejected" : "error";

// ---------------------------------------------------------------------------------------------------------
// Kitchen: integrations made from a template (lib/kitchen/install.ts). Appended; owned by the Kitchen.

export type TemplateSource = { id: string; name: string; serverUrl: string; authKind: string };
export type TemplateConnectResult = ConnectResult & { created: boolean };

const NAME_MAX = 64;

/** The template's name, or "name 2", "name 3"… when the person already uses it for another integration. */
async function freeIntegrationName(tx: Prisma.TransactionClient, userId: string, base: string) {
  const taken = new Set(
    (
      await tx.integration.findMany({
        where: { userId, name: { startsWith: base.slice(0, NAME_MAX - 4) } },
        select: { name: true },
      })
    ).map((r) => r.name),
  );
  if (!taken.has(base)) return base;
  for (let n = 2; n < 1000; n++) {
    const name = `${base.slice(0, NAME_MAX - String(n).length - 1)} ${n}`;
    if (!taken.has(name)) return name;
  }
  throw new AppError("name_taken", `You already have too many integrations named "${base}"`, 409);
}

/**
 * The person's integration for a template, created on first use: one per (user, template) — a second
 * install finds the first (serialized by an advisory lock, since the schema has no unique index on it).
 * No-auth templates connect at once; API-key ones connect when a key is given (a new key replaces the old
 * through updateIntegration); OAuth ones wait for the person to authorize (no request is sent here).
 * Callers must have checked that the person may use the template (a valid recipe link).
 */
export async function createIntegrationFromTemplate(
  user: Owner,
  template: TemplateSource,
  opts: { apiKey?: string } = {},
): Promise<TemplateConnectResult> {
  const url = validateUserUrl(template.serverUrl).href;
  const apiKey = opts.apiKey ? integrationCreateSchema.shape.apiKey.parse(opts.apiKey) : undefined;
  const authKind =
    template.authKind === "oauth" || template.authKind === "api_key" ? template.authKind : "none";
  const db = await getDb();
  const id = randomUUID();
  const existing = await db.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`template-integration:${user.id}:${template.id}`}))`;
    const found = await tx.integration.findFirst({
      where: { userId: user.id, templateId: template.id },
      orderBy: { createdAt: "asc" },
      select: { id: true, status: true },
    });
    if (found) return found;
    await tx.integration.create({
      data: {
        id,
        userId: user.id,
        templateId: template.id,
        name: await freeIntegrationName(tx, user.id, template.name),
        url,
        authKind,
        status: authKind === "oauth" ? "needs_auth" : "pending",
        apiKeyEnc: apiKey ? encryptField(apiKey, aad("Integration", "apiKeyEnc", id)) : null,
      },
    });
    return null;
  });
  if (existing) {
    if (authKind === "api_key" && apiKey)
      return { ...(await updateIntegration(user, existing.id, { apiKey })), created: false };
    if (authKind === "none" && existing.status !== "connected")
      return { ...(await connectAndReport(user, existing.id)), created: false };
    return { integration: await getIntegration(user, existing.id), created: false };
  }
  integrationsChanged({ userId: user.id, integrationId: id });
  await audit(
    user.id,
    "integration.create",
    { type: "integration", id },
    {
      url: new URL(url).origin,
      templateId: template.id,
    },
  );
  if (authKind === "oauth" || (authKind === "api_key" && !apiKey))
    return { integration: await getIntegration(user, id), created: true };
  return { ...(await connectAndReport(user, id)), created: true };
}
