// The Doctor: runs a connection step by step and says which step fails and what to do about it.
import type { AuthProvider, OAuthClientProvider } from "@modelcontextprotocol/client";
import { getSessionUser } from "@/lib/data/users";
import { AppError, isAppError } from "@/lib/errors";
import { connectMcp, type McpConnection } from "@/lib/mcp/connect";
import { discover } from "@/lib/mcp/discover";
import { loadIntegration } from "@/lib/mcp/integration";
import { resolveChecked, validateUserUrl, type ResolvedAddress } from "@/lib/net/egress";
import { parseIpLiteral } from "@/lib/net/ip-policy";

// The steps, in the order they run.
const LABELS = {
  url: "URL",
  dns: "DNS",
  egress: "Egress policy",
  transport: "Transport",
  protocol: "MCP protocol",
  auth: "Authorization",
  tools: "Tools",
} as const;
const ORDER = Object.keys(LABELS) as DoctorStepId[];

export type DoctorStepId = keyof typeof LABELS;
export type DoctorStep = {
  id: DoctorStepId;
  label: string;
  status: "ok" | "fail" | "skip" | "warn";
  detail: string;
  hint?: string;
};

// Which step an engine error belongs to, and what a person can do about it.
const STEP_OF: Record<string, { step: DoctorStepId; hint: string }> = {
  bad_url: {
    step: "url",
    hint: "Use the full http(s) URL of the MCP endpoint, without credentials or #fragment.",
  },
  dns_failed: {
    step: "dns",
    hint: "Check the host name for typos, or that it resolves from the Poke server.",
  },
  blocked_address: {
    step: "egress",
    hint: "Private and loopback addresses are blocked. An admin can set ALLOW_PRIVATE_NETWORK=1 or add host:port to EGRESS_ALLOWLIST.",
  },
  connection_refused: {
    step: "transport",
    hint: "Make sure the server is running and listening on that port.",
  },
  connection_reset: {
    step: "transport",
    hint: "The server dropped the connection; check its logs and any proxy in front of it.",
  },
  unreachable: { step: "transport", hint: "Check firewalls and routing between Poke and the server." },
  network_error: { step: "transport", hint: "Check that the server is reachable from the Poke server." },
  tls_error: {
    step: "transport",
    hint: "The server needs a valid certificate for its host name (or use http:// on a private network).",
  },
  timeout: {
    step: "transport",
    hint: "The server is slow or not answering; check it is healthy and not overloaded.",
  },
  redirect_refused: {
    step: "transport",
    hint: "Use the final URL the server redirects to as the integration URL.",
  },
  too_large: {
    step: "transport",
    hint: "The server sent a response larger than Poke accepts (8 MiB per message).",
  },
  not_mcp: {
    step: "transport",
    hint: "Point the URL at the MCP endpoint itself — often ending in /mcp (or /sse for older servers).",
  },
  server_error: { step: "transport", hint: "The server failed internally; check its logs." },
  http_error: { step: "transport", hint: "The server answered with an unexpected HTTP status." },
  rate_limited: { step: "transport", hint: "Wait a little and run the Doctor again." },
  protocol_error: {
    step: "protocol",
    hint: "The server does not speak a compatible MCP version or sent invalid messages.",
  },
  connection_closed: {
    step: "protocol",
    hint: "The server closed the session during the handshake; check its logs.",
  },
  unauthorized: {
    step: "auth",
    hint: "Add (or fix) the API key, or connect with OAuth if the server supports it.",
  },
  needs_auth: { step: "auth", hint: "Connect with OAuth to grant Poke access to this server." },
  forbidden: {
    step: "auth",
    hint: "The credentials work but lack access; check the key's permissions or scopes.",
  },
  key_unreadable: { step: "auth", hint: "Enter the API key again." },
  too_many_tools: {
    step: "tools",
    hint: "The server lists more than 1000 tools; ask its operator to narrow the set.",
  },
  too_many_pages: {
    step: "tools",
    hint: "The server's tools/list pagination does not end; this is a server bug.",
  },
  too_deep: { step: "tools", hint: "A tool schema is nested too deeply; this is a server bug." },
  bad_session_id: {
    step: "protocol",
    hint: "The server's Mcp-Session-Id must be 1–256 visible ASCII characters; this is a server bug.",
  },
};

class Steps {
  list: DoctorStep[] = [];
  /** Admins see the addresses a refusal names (docs/security.md §12); everyone else sees "a private address". */
  constructor(private readonly admin: boolean) {}
  add(id: DoctorStepId, detail: string, status: DoctorStep["status"] = "ok", hint?: string) {
    this.list.push({ id, label: LABELS[id], status, detail, ...(hint ? { hint } : {}) });
  }
  /** Records a failure at the step the error belongs to; steps before it that did not run are "ok". */
  fail(err: unknown, fallback: DoctorStepId): DoctorStep[] {
    const app = isAppError(err) ? err : new AppError("unknown", "Something went wrong.");
    const where = STEP_OF[app.code] ?? {
      step: fallback,
      hint: "Run the Doctor again; if it keeps failing, check the server's logs.",
    };
    const at = Math.max(ORDER.indexOf(where.step), ORDER.indexOf(fallback));
    for (const id of ORDER.slice(0, at)) {
      if (!this.list.some((s) => s.id === id)) this.add(id, "Passed.");
    }
    const address = app.code === "blocked_address" ? app.details?.address : undefined;
    const detail =
      this.admin && typeof address === "string" && !app.message.includes(address)
        ? `${app.message} (address: ${address})`
        : app.message;
    this.add(ORDER[at], detail, "fail", where.hint);
    return this.finish();
  }
  finish(): DoctorStep[] {
    for (const id of ORDER) {
      if (!this.list.some((s) => s.id === id)) this.add(id, "Not run: an earlier step failed.", "skip");
    }
    return this.list.sort((a, b) => ORDER.indexOf(a.id) - ORDER.indexOf(b.id));
  }
}

export type DoctorInput = {
  userId: string;
  url: string;
  apiKey?: string | null;
  authProvider?: OAuthClientProvider | AuthProvider;
  timeoutMs?: number;
};

/** Doctor for a saved integration (owner-scoped: a foreign id is not_found before any request). */
export async function runDoctor(userId: string, integrationId: string) {
  const integ = await loadIntegration(userId, integrationId);
  return runDoctorForUrl({ userId, url: integ.url, apiKey: integ.apiKey, authProvider: integ.authProvider });
}

/** Doctor for an unsaved URL + key (the add form). */
export async function runDoctorForUrl(input: DoctorInput): Promise<DoctorStep[]> {
  // Read from the database on every run, like every admin check (docs/security.md §1).
  const admin = (await getSessionUser(input.userId).catch(() => null))?.role === "admin";
  const steps = new Steps(admin);
  let url: URL;
  try {
    url = validateUserUrl(input.url);
  } catch (err) {
    return steps.fail(err, "url");
  }
  steps.add("url", url.href);

  let addrs;
  try {
    addrs = await resolveChecked(url.hostname, url.port || (url.protocol === "https:" ? 443 : 80));
  } catch (err) {
    return steps.fail(err, "dns");
  }
  // A name's internal addresses are shown to admins only; an IP literal is what the person typed.
  const open = admin || !!parseIpLiteral(url.hostname.replace(/^\[|\]$/g, ""));
  const shown = (a: ResolvedAddress) => (open || !a.reason ? a.address : "a private address");
  steps.add("dns", `${url.hostname} → ${[...new Set(addrs.map(shown))].join(", ")}`);
  const blocked = addrs.find((a) => !a.allowed);
  if (blocked) {
    const err = new AppError(
      "blocked_address",
      open
        ? `${url.hostname} resolves to ${blocked.address}, ${blocked.reason}; Poke won't connect there.`
        : `${url.hostname} resolves to a private address; Poke won't connect there.`,
    );
    return steps.fail(err, "egress");
  }
  const special = addrs.find((a) => a.reason);
  if (special) {
    steps.add(
      "egress",
      open
        ? `Allowed by configuration (${special.address} is ${special.reason}).`
        : `Allowed by configuration (${url.hostname} resolves to a private address).`,
      "warn",
      "Private addresses are reachable because ALLOW_PRIVATE_NETWORK or EGRESS_ALLOWLIST permits them.",
    );
  } else steps.add("egress", "Public address: allowed.");

  let conn: McpConnection;
  try {
    conn = await connectMcp({
      url: url.href,
      userId: input.userId,
      apiKey: input.apiKey,
      authProvider: input.authProvider,
      timeoutMs: input.timeoutMs,
    });
  } catch (err) {
    return steps.fail(err, "transport");
  }
  try {
    steps.add(
      "transport",
      conn.kind === "sse"
        ? "Legacy HTTP+SSE (the server does not support Streamable HTTP)."
        : "Streamable HTTP.",
      conn.kind === "sse" ? "warn" : "ok",
      conn.kind === "sse" ? "HTTP+SSE is deprecated; upgrade the server when you can." : undefined,
    );
    const c = conn.client;
    const info = c.getServerVersion();
    steps.add(
      "protocol",
      `${c.getNegotiatedProtocolVersion() ?? "unknown"}${eraLabel(c.getProtocolEra())} with ${info?.name ?? "server"} ${info?.version ?? ""}`.trim(),
    );
    steps.add(
      "auth",
      input.authProvider
        ? "Authorized with OAuth."
        : input.apiKey
          ? "The API key was accepted."
          : "No authorization needed.",
    );
    const found = await discover(conn, { url, hasApiKey: !!input.apiKey }, { timeoutMs: input.timeoutMs });
    steps.add(
      "tools",
      `${found.tools.length} tool${found.tools.length === 1 ? "" : "s"} listed.`,
      found.tools.length ? "ok" : "warn",
      found.tools.length ? undefined : "The server lists no tools.",
    );
    return steps.finish();
  } catch (err) {
    return steps.fail(err, "tools");
  } finally {
    await conn.close();
  }
}

/**
 * How the negotiated revision works, in words: the SDK's "legacy" era is every 2025 revision (2025-11-25
 * included, a current release), which keeps protocol sessions; "modern" is 2026-07-28 and later (stateless).
 */
function eraLabel(era: string | undefined | null): string {
  if (era === "modern") return " (stateless revision)";
  if (era === "legacy") return " (session-based revision)";
  return "";
}
