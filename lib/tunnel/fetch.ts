// The MCP engine's in-process path to a local server behind `poke tunnel`: a fetch-compatible function that
// sends each request as a stream over the owner's tunnel socket (no HTTP hop back into the app, no SSRF
// exemption). Used by lib/mcp/connect.ts for integrations whose URL is this app's tunnel route.
import { tunnelIntegrationName } from "@/lib/data/tunnels";
import { env } from "@/lib/env";
import { AppError, isAppError } from "@/lib/errors";
import { quoteServerText } from "@/lib/mcp/errors";
import { capSseEvents, capTotal, LIMITS, type EgressFetch, type EgressOptions } from "@/lib/net/egress";
import { remoteTunnel } from "@/lib/tunnel/cluster";
import { liveTunnel, type LiveTunnel } from "@/lib/tunnel/registry";
import { forwardableHeaders, type StreamReset } from "@/lib/tunnel/protocol";

const ROUTE = /^\/api\/tunnel\/([A-Za-z0-9_-]{1,64})(\/.*)?$/;

/** The integration URL of a tunnel: the app's tunnel route + the local target's path. */
export function publicTunnelUrl(tunnelId: string, target: URL): string {
  return `${env().APP_URL}/api/tunnel/${tunnelId}${target.pathname === "/" ? "" : target.pathname}${target.search}`;
}

/** The tunnel id when `url` is this app's tunnel route, else undefined. */
export function tunnelIdOf(url: URL): string | undefined {
  let appOrigin: string;
  try {
    appOrigin = new URL(env().APP_URL).origin;
  } catch {
    return undefined;
  }
  if (url.origin !== appOrigin) return undefined;
  const m = ROUTE.exec(url.pathname);
  return m && m[1] !== "connect" ? m[1] : undefined;
}

export function tunnelOfflineError(name?: string): AppError {
  const what = name ? `The tunnel for "${name}"` : "This integration's tunnel";
  return new AppError(
    "tunnel_offline",
    `${what} is offline: run \`poke tunnel <local-url> -n ${name ?? "<name>"}\` again on the machine that serves it.`,
    503,
  );
}

/**
 * The owner's live tunnel — on this instance, or on the instance holding its socket (lib/tunnel/cluster.ts)
 * — else `tunnel_offline` naming the integration when it is the caller's.
 */
async function ownLiveTunnel(tunnelId: string, userId: string): Promise<LiveTunnel> {
  const live = liveTunnel(tunnelId) ?? (await remoteTunnel(tunnelId, userId));
  if (live && live.userId === userId) return live;
  throw tunnelOfflineError(await tunnelIntegrationName(tunnelId, userId).catch(() => undefined));
}

/** Maps a request URL to the local URL inside the tunnel's target, or refuses it. */
function localUrlFor(url: URL, live: LiveTunnel): URL {
  const id = tunnelIdOf(url);
  if (id === live.tunnelId) {
    const rest = ROUTE.exec(url.pathname)?.[2] ?? "/";
    return new URL(`${rest}${url.search}`, live.target.origin);
  }
  // OAuth discovery may name the local origin itself (a 401's resource_metadata URL): same origin only.
  if (url.origin === live.target.origin) return url;
  throw new AppError(
    "tunnel_target",
    `Requests through the tunnel may only go to ${live.target.origin}.`,
    400,
  );
}

/**
 * Where an integration whose URL is this app's tunnel route really lives: the owner's live tunnel and the
 * local URL behind it (the target's origin + the path after /api/tunnel/<id>). undefined when `url` is not
 * a tunnel route; a missing or foreign tunnel throws `tunnel_offline` (nothing is sent anywhere).
 */
export async function tunnelRouteFor(
  url: URL,
  userId: string,
): Promise<{ tunnelId: string; localUrl: URL } | undefined> {
  const id = tunnelIdOf(url);
  if (!id) return undefined;
  return { tunnelId: id, localUrl: localUrlFor(url, await ownLiveTunnel(id, userId)) };
}

/**
 * A fetch bound to one owner's tunnel. Every request re-resolves the live connection, so a reconnecting
 * CLI is picked up without rebuilding the MCP client; a missing or foreign tunnel fails fast with
 * `tunnel_offline` and sends nothing anywhere.
 */
export function createTunnelFetch(
  userId: string,
  tunnelId: string,
  opts: Partial<EgressOptions> = {},
): EgressFetch {
  // The same limits as egress (docs/security.md §14).
  const max = opts.maxResponseBytes ?? LIMITS.mcpMessageBytes;
  return async (input, init = {}) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const live = await ownLiveTunnel(tunnelId, userId);
    const local = localUrlFor(url, live);
    const headers = new Headers(init.headers);
    for (const [k, v] of Object.entries(opts.headersFor?.(url, init) ?? {})) headers.set(k, v);
    let body = init.body as unknown;
    if (body instanceof URLSearchParams) {
      if (!headers.has("content-type"))
        headers.set("content-type", "application/x-www-form-urlencoded;charset=UTF-8");
      body = body.toString();
    }
    if (body !== undefined && body !== null && typeof body !== "string" && !(body instanceof Uint8Array)) {
      if (body instanceof ArrayBuffer) body = new Uint8Array(body);
      else if (!(body instanceof ReadableStream)) body = String(body);
    }
    const rpc = jsonRpcOf(body);
    // Like egress: a tools/call answered as plain JSON has no headers until the tool finishes.
    const headersMs =
      rpc?.method === "tools/call"
        ? LIMITS.hardMaxMs
        : Math.min(opts.headersTimeoutMs ?? LIMITS.headersMs, LIMITS.hardMaxMs);
    const ac = new AbortController();
    const timer = setTimeout(
      () =>
        ac.abort(
          new AppError("timeout", `The tunneled server sent no response within ${headersMs / 1000} s.`, 504),
        ),
      headersMs,
    );
    const onAbort = () => ac.abort(init.signal?.reason);
    init.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      const method = (init.method ?? "GET").toUpperCase();
      const res = await live.request({
        method,
        url: local,
        headers: forwardableHeaders(headers),
        body: (body ?? null) as string | Uint8Array | ReadableStream<Uint8Array> | null,
        signal: ac.signal,
      });
      const isSse = res.headers.some(
        ([k, v]) => k.toLowerCase() === "content-type" && /text\/event-stream/i.test(v),
      );
      const nullBody = res.status === 204 || res.status === 205 || res.status === 304;
      if (nullBody) void res.body.cancel().catch(() => {});
      // The caller's signal still ends the exchange while its body streams (docs/security.md §14).
      const resBody = nullBody ? null : followSignal(res.body, init.signal);
      const capped = !resBody
        ? null
        : isSse
          ? answerFailure(
              capSseEvents(
                method === "GET" ? announcedThroughTunnel(resBody, local, live, url) : resBody,
                max,
                rpc?.id,
              ),
              rpc?.id,
            )
          : capTotal(resBody, max, "The response from the tunneled server");
      const out = new Response(capped, { status: res.status, headers: res.headers });
      Object.defineProperty(out, "url", { value: url.href });
      opts.onResponse?.(url, out);
      return out;
    } catch (err) {
      if (init.signal?.aborted) throw init.signal.reason ?? err; // caller cancelled: keep abort semantics
      // The headers timeout is this request's own cause, whatever the tunnel rejected with.
      if (ac.signal.aborted && isAppError(ac.signal.reason)) throw ac.signal.reason;
      throw err;
    } finally {
      clearTimeout(timer);
      init.signal?.removeEventListener("abort", onAbort);
    }
  };
}

/** The connect seam: a tunnel fetch when `serverUrl` is this app's tunnel route, else undefined. */
export function tunnelFetchFor(
  serverUrl: URL,
  userId: string,
  opts: Partial<EgressOptions>,
): EgressFetch | undefined {
  const id = tunnelIdOf(serverUrl);
  return id ? createTunnelFetch(userId, id, opts) : undefined;
}

/**
 * A legacy HTTP+SSE server names its message endpoint in its stream's first event, relative to its own
 * origin. The client resolves it against the tunnel route, so an endpoint on the target's origin is
 * rewritten to that route (the CLI forwards exactly that path, having seen the same event; docs/security.md
 * §18); one on any other origin is left as announced, and refused when used.
 */
function announcedThroughTunnel(
  body: ReadableStream<Uint8Array>,
  local: URL,
  live: LiveTunnel,
  route: URL,
): ReadableStream<Uint8Array> {
  let head = new Uint8Array(0);
  let passing = false;
  const rewrite = (event: string): string => {
    const lines = event.split(/\r\n|\r|\n/);
    if (!lines.some((l) => /^event:\s?endpoint$/.test(l))) return event;
    const data = lines.filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, ""));
    let target: URL;
    try {
      target = new URL(data.join("\n"), local);
    } catch {
      return event;
    }
    if (target.origin !== live.target.origin || target.username || target.password) return event;
    const via = new URL(`/api/tunnel/${live.tunnelId}${target.pathname}${target.search}`, route);
    return `event: endpoint\ndata: ${via.href}\n\n`;
  };
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, ctl) {
        if (passing) return ctl.enqueue(chunk);
        const joined = new Uint8Array(head.length + chunk.length);
        joined.set(head);
        joined.set(chunk, head.length);
        head = joined;
        // Events end at a blank line (ASCII), so the bytes before one decode on their own.
        for (;;) {
          const end = eventEnd(head);
          if (end < 0) break;
          const event = new TextDecoder().decode(head.subarray(0, end));
          const hasData = /(^|[\r\n])data:/.test(event);
          const out = hasData ? rewrite(event) : event;
          ctl.enqueue(out === event ? head.subarray(0, end) : new TextEncoder().encode(out));
          head = head.subarray(end);
          if (hasData) passing = true;
          if (passing) break;
        }
        if (passing || head.length > 8192) {
          passing = true;
          if (head.length) ctl.enqueue(head);
          head = new Uint8Array(0);
        }
      },
      flush(ctl) {
        if (head.length) ctl.enqueue(head);
      },
    }),
  );
}

/** The index just past the first blank line (an SSE event's end), or -1. */
function eventEnd(b: Uint8Array): number {
  for (let i = 0; i < b.length; i++) {
    if (b[i] !== 10 && b[i] !== 13) continue;
    const next = b[i] === 13 && b[i + 1] === 10 ? i + 2 : i + 1;
    if (b[next] === 10) return next + 1;
    if (b[next] === 13) return b[next + 1] === 10 ? next + 2 : next + 1;
  }
  return -1;
}

// ---------------------------------------------------------------------------------------------------------
// Response bodies. Caps (docs/security.md §14) are egress's own: total for JSON, per event for SSE.

/**
 * The body, ended when `signal` aborts: a call that times out or is cancelled resets its stream, so the
 * CLI stops the local request (docs/security.md §14) even after the response head has come back.
 */
function followSignal(
  body: ReadableStream<Uint8Array>,
  signal: AbortSignal | null | undefined,
): ReadableStream<Uint8Array> {
  if (!signal) return body;
  const reader = body.getReader();
  const onAbort = () => void reader.cancel(signal.reason).catch(() => {});
  if (signal.aborted) onAbort();
  else signal.addEventListener("abort", onAbort, { once: true });
  const settle = () => signal.removeEventListener("abort", onAbort);
  return new ReadableStream<Uint8Array>(
    {
      async pull(ctl) {
        try {
          const { done, value } = await reader.read();
          if (!done) return ctl.enqueue(value);
          settle();
          ctl.close();
        } catch (err) {
          settle();
          ctl.error(signal.aborted ? signal.reason : err);
        }
      },
      cancel: (reason) => {
        settle();
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

/** JSON-RPC error code of the answer put in place of an event stream the tunnel failed under. */
const TUNNEL_RPC_CODE = -32003;
const TUNNEL_FAILURES: Record<string, number> = { tunnel_offline: 503, tunnel_error: 502 };

/**
 * An event stream answering request `id`: when the tunnel fails under it (the connection drops, the CLI
 * resets the stream), the request is answered with a JSON-RPC error naming the failure and the stream ends.
 * Erroring the body instead would leave the request pending until its timeout (docs/design.md §6.3), and
 * the call would then be reported by whatever the SDK saw last, not as the tunnel going away
 * (docs/security.md §19). A caller's own abort still errors the stream.
 */
function answerFailure(body: ReadableStream<Uint8Array>, id: unknown): ReadableStream<Uint8Array> {
  if (id === undefined) return body;
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>(
    {
      async pull(ctl) {
        try {
          const { done, value } = await reader.read();
          if (done) return ctl.close();
          ctl.enqueue(value);
        } catch (err) {
          const failure = tunnelFailure(err);
          if (!failure) return ctl.error(err);
          const error = {
            code: TUNNEL_RPC_CODE,
            message: failure.message,
            data: { reason: "tunnel_failure", code: failure.code },
          };
          // "\n\n" first ends any partial event already passed on.
          const event = `\n\nevent: message\ndata: ${JSON.stringify({ jsonrpc: "2.0", id, error })}\n\n`;
          ctl.enqueue(new TextEncoder().encode(event));
          ctl.close();
        }
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  );
}

/** A body failure that is the tunnel's: the connection dropped (tunnel_offline) or the CLI reset it. */
function tunnelFailure(err: unknown): AppError | undefined {
  if (isAppError(err)) return err.code in TUNNEL_FAILURES ? err : undefined;
  // By name: the stream failed in the tunnel endpoint's bundle, which has its own copy of the class.
  const reset = err as Partial<StreamReset> | undefined;
  return reset?.name === "StreamReset" && typeof reset.code === "string" && reset.code !== "cancelled"
    ? tunnelStreamError(reset as StreamReset)
    : undefined;
}

/** A stream the CLI reset: it could not reach the local server, or refused the request. */
export function tunnelStreamError(err: StreamReset): AppError {
  return new AppError(
    err.code === "refused_target" ? "tunnel_refused" : "tunnel_error",
    `poke tunnel could not complete the request: ${quoteServerText(err.message)}`,
    502,
  );
}

/** The AppError a tunnel failure answered in place of an event stream stands for (see answerFailure). */
export function tunnelFailureOf(err: {
  code?: unknown;
  message?: unknown;
  data?: unknown;
}): AppError | undefined {
  const data = err.data as { reason?: unknown; code?: unknown } | undefined;
  if (err.code !== TUNNEL_RPC_CODE || data?.reason !== "tunnel_failure" || typeof data.code !== "string")
    return undefined;
  const status = TUNNEL_FAILURES[data.code];
  return status ? new AppError(data.code, String(err.message ?? ""), status) : undefined;
}

function jsonRpcOf(body: unknown): { method?: string; id?: unknown } | undefined {
  if (typeof body !== "string") return undefined;
  try {
    const v = JSON.parse(body);
    return v && typeof v === "object" && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}
