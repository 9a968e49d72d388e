// The `poke tunnel` wire protocol, shared by the app (lib/tunnel/server.ts) and the CLI (cli/tunnel.ts).
// Pure module: no server-only imports, no Node-only APIs beyond Web streams, so the CLI can import it.
//
// One WebSocket carries many HTTP exchanges ("streams"), each named by a server-assigned uint32 id:
//   text frames   = JSON control messages (hello, ready, req, res, end, reset, credit, error)
//   binary frames = body chunks: [0x01][stream id: uint32 BE][payload ≤ MAX_CHUNK]
// Flow control is per stream and credit-based (as in HTTP/2): a sender may have at most the receiver's
// window of unacknowledged body bytes in flight; the receiver grants credit as its consumer reads. A slow
// SSE reader therefore stalls only its own stream, and the socket buffer is bounded by a high-water mark.

export const PROTOCOL_VERSION = 1;
export const TUNNEL_PATH = "/api/tunnel/connect";
/** Largest WebSocket message either side accepts; bigger ones close the connection (1009). */
export const MAX_FRAME_BYTES = 1024 * 1024;
/** Body chunks are split to this size so one large body cannot monopolize the socket. */
export const MAX_CHUNK_BYTES = 64 * 1024;
/** Initial per-stream window (bytes a sender may have in flight before credit returns). */
export const STREAM_WINDOW_BYTES = 256 * 1024;
/** Concurrent streams per tunnel; more are refused (server: 503 busy, CLI: reset). */
export const MAX_STREAMS = 64;
/** Pause writing while the socket has more than this buffered. */
export const SOCKET_HIGH_WATER = 1024 * 1024;
export const MAX_HEADERS = 100;
export const MAX_HEADER_BYTES = 32 * 1024;
export const DEFAULT_HEARTBEAT_MS = 10_000;
export const MIN_HEARTBEAT_MS = 500;
export const MAX_HEARTBEAT_MS = 30_000;

export type HeaderList = [string, string][];

export type OAuthHello = {
  clientId: string;
  clientSecret?: string;
  /** Issuer of the local server's authorization server, as the CLI discovered it (binds the credentials). */
  issuer?: string;
  tokenEndpointAuthMethod?: "client_secret_basic" | "client_secret_post" | "none";
  /** private_key_jwt instead of a secret: the private key (PEM or JWK text, docs/oauth.md). */
  clientPrivateKey?: string;
};

export type HelloFrame = {
  t: "hello";
  v: number;
  name: string;
  /** The one local URL the CLI forwards to (origin + path prefix). */
  target: string;
  heartbeatMs?: number;
  oauth?: OAuthHello;
};

export type ReadyFrame = {
  t: "ready";
  tunnelId: string;
  integrationId: string;
  name: string;
  url: string;
  status: string;
  heartbeatMs: number;
  revived: boolean;
  toolCount?: number;
  diff?: { added: string[]; removed: string[]; changed: string[] };
  error?: { code: string; message: string };
  /** Where the person completes OAuth when the local server needs it. */
  authorizeUrl?: string;
};

export type ReqFrame = {
  t: "req";
  id: number;
  method: string;
  /** Absolute local URL; the CLI refuses anything outside its target. */
  url: string;
  headers: HeaderList;
  /** Whether body chunks (then `end`) follow. */
  body: boolean;
  /** A small UTF-8 body sent inline instead (no data/end frames follow): one frame per request. */
  text?: string;
};

/** `text`: the complete (small, UTF-8) response body inline — no data/end frames follow. */
export type ResFrame = { t: "res"; id: number; status: number; headers: HeaderList; text?: string };
/** Bodies up to this size travel inside the req/res frame (fewer frames, fewer wake-ups per call). */
export const INLINE_BODY_BYTES = 32 * 1024;
export type EndFrame = { t: "end"; id: number };
export type ResetFrame = { t: "reset"; id: number; code: string; message?: string };
export type CreditFrame = { t: "credit"; id: number; n: number };
export type ErrorFrame = { t: "error"; code: string; message: string };
export type StatusFrame = { t: "status"; status: string; message?: string };

export type ControlFrame =
  | HelloFrame
  | ReadyFrame
  | ReqFrame
  | ResFrame
  | EndFrame
  | ResetFrame
  | CreditFrame
  | ErrorFrame
  | StatusFrame;

/** WebSocket close codes (4000–4999 are application-defined). */
export const CLOSE = {
  normal: 1000,
  goingAway: 1001,
  protocol: 4400,
  unauthorized: 4401,
  conflict: 4409,
  replaced: 4410,
  heartbeat: 4408,
  tooBig: 1009,
} as const;

export class ProtocolViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProtocolViolation";
  }
}

// ---------------------------------------------------------------------------------------------------------
// Encoding

const DATA = 0x01;

export function encodeData(id: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + payload.byteLength);
  out[0] = DATA;
  new DataView(out.buffer).setUint32(1, id >>> 0);
  out.set(payload, 5);
  return out;
}

export function decodeData(frame: Uint8Array): { id: number; payload: Uint8Array } {
  if (frame.byteLength < 5 || frame[0] !== DATA) throw new ProtocolViolation("malformed data frame");
  const id = new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(1);
  return { id, payload: frame.subarray(5) };
}

const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === "object" && !Array.isArray(v);
const isId = (v: unknown): v is number =>
  Number.isInteger(v) && (v as number) > 0 && (v as number) <= 0xffffffff;

/** Parses and shape-checks a control frame; throws ProtocolViolation on anything unexpected. */
export function parseControl(text: string): ControlFrame {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new ProtocolViolation("control frame is not JSON");
  }
  if (!isObj(v) || typeof v.t !== "string") throw new ProtocolViolation("control frame without type");
  switch (v.t) {
    case "req":
      if (
        !isId(v.id) ||
        typeof v.method !== "string" ||
        typeof v.url !== "string" ||
        !validHeaders(v.headers)
      )
        throw new ProtocolViolation("malformed req frame");
      break;
    case "res":
      if (!isId(v.id) || !Number.isInteger(v.status) || !validHeaders(v.headers))
        throw new ProtocolViolation("malformed res frame");
      if (v.text !== undefined && typeof v.text !== "string")
        throw new ProtocolViolation("malformed res frame");
      break;
    case "end":
    case "reset":
    case "credit":
      if (!isId(v.id)) throw new ProtocolViolation(`malformed ${v.t} frame`);
      if (v.t === "credit" && !(Number.isInteger(v.n) && (v.n as number) > 0))
        throw new ProtocolViolation("malformed credit frame");
      break;
    case "hello":
      if (typeof v.name !== "string" || typeof v.target !== "string")
        throw new ProtocolViolation("malformed hello frame");
      break;
    case "ready":
    case "error":
    case "status":
      break;
    default:
      throw new ProtocolViolation(`unknown frame type ${String(v.t).slice(0, 20)}`);
  }
  return v as ControlFrame;
}

function validHeaders(h: unknown): h is HeaderList {
  if (!Array.isArray(h) || h.length > MAX_HEADERS) return false;
  let bytes = 0;
  for (const pair of h) {
    if (
      !Array.isArray(pair) ||
      pair.length !== 2 ||
      typeof pair[0] !== "string" ||
      typeof pair[1] !== "string"
    )
      return false;
    bytes += pair[0].length + pair[1].length;
  }
  return bytes <= MAX_HEADER_BYTES;
}

/** Hop-by-hop and connection-specific headers are never forwarded in either direction. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "host",
  "content-length",
  "cookie",
  "set-cookie",
]);

export function forwardableHeaders(h: Headers | HeaderList): HeaderList {
  const out: HeaderList = [];
  const entries = Array.isArray(h) ? h : [...h.entries()];
  for (const [k, v] of entries) if (!HOP_BY_HOP.has(k.toLowerCase())) out.push([k, v]);
  return out.slice(0, MAX_HEADERS);
}

// ---------------------------------------------------------------------------------------------------------
// Streams with credit-based flow control

export type Wire = {
  send(data: string | Uint8Array): void;
  bufferedAmount(): number;
  isOpen(): boolean;
};

type Waiter = () => void;

export class Stream {
  /** Bytes we may still send before the peer grants more. */
  private credit = STREAM_WINDOW_BYTES;
  /** Bytes the peer may still send us. */
  private window = STREAM_WINDOW_BYTES;
  private creditWaiters: Waiter[] = [];
  private queue: Uint8Array[] = [];
  private inEnded = false;
  private inError: unknown;
  private pullWaiter?: Waiter;
  private sendDone = false;
  closed = false;
  readonly readable: ReadableStream<Uint8Array>;
  /** Called once when the stream is done; `err` when it was aborted. */
  onClose?: (err?: unknown) => void;

  constructor(
    readonly id: number,
    private readonly mux: Mux,
  ) {
    this.readable = new ReadableStream<Uint8Array>(
      {
        pull: async (ctl) => {
          while (!this.queue.length && !this.inEnded && this.inError === undefined) {
            await new Promise<void>((r) => (this.pullWaiter = r));
          }
          const chunk = this.queue.shift();
          if (chunk) {
            ctl.enqueue(chunk);
            // The consumer took it: re-open our receive window and tell the peer it may send that much more.
            this.window += chunk.byteLength;
            // Once the peer has ended its side there is nothing left to flow-control: save the frame.
            if (!this.closed && !this.inEnded)
              this.mux.sendControl({ t: "credit", id: this.id, n: chunk.byteLength });
            return;
          }
          if (this.inError !== undefined) ctl.error(this.inError);
          else ctl.close();
          this.maybeClose();
        },
        cancel: () => {
          this.reset("cancelled", "the reader cancelled the body");
        },
      },
      { highWaterMark: 0 },
    );
  }

  /** Peer sent body bytes for this stream. */
  pushData(payload: Uint8Array): void {
    if (this.inEnded || this.closed) return; // late data after reset/end: ignore
    if (payload.byteLength > this.window) throw new ProtocolViolation("peer exceeded the stream window");
    this.window -= payload.byteLength;
    this.queue.push(payload.slice());
    this.wakeReader();
  }

  /** A complete body that arrived inline in a req/res frame. */
  receiveInline(text: string): void {
    if (text) this.queue.push(new TextEncoder().encode(text));
    this.endInbound();
  }

  /** Our side's body went inline in the control frame: nothing more to send. */
  finishSend(): void {
    this.sendDone = true;
    this.maybeClose();
  }

  /** Called by the mux when credit frames return window. */
  grantCredit(n: number): void {
    this.credit += n;
    const waiters = this.creditWaiters;
    this.creditWaiters = [];
    for (const w of waiters) w();
  }

  endInbound(): void {
    this.inEnded = true;
    this.wakeReader();
    this.maybeClose();
  }

  failInbound(err: unknown): void {
    if (this.inEnded) return;
    this.inError = err;
    this.inEnded = true;
    this.wakeReader();
    this.grantCredit(0);
  }

  private wakeReader(): void {
    const w = this.pullWaiter;
    this.pullWaiter = undefined;
    w?.();
  }

  /** Sends a body (string, bytes or stream) respecting credit and socket backpressure, then `end`. */
  async sendBody(body: string | Uint8Array | ReadableStream<Uint8Array> | null | undefined): Promise<void> {
    try {
      if (body !== null && body !== undefined) {
        if (typeof body === "string") await this.write(new TextEncoder().encode(body));
        else if (body instanceof Uint8Array) await this.write(body);
        else {
          const reader = body.getReader();
          try {
            for (;;) {
              const { value, done } = await reader.read();
              if (done) break;
              if (this.closed) {
                await reader.cancel().catch(() => {});
                return;
              }
              if (value?.byteLength) await this.write(value);
            }
          } finally {
            reader.releaseLock();
          }
        }
      }
      if (!this.closed) this.mux.sendControl({ t: "end", id: this.id });
      this.sendDone = true;
      this.maybeClose();
    } catch (err) {
      if (!this.closed) this.reset("body_error", err instanceof Error ? err.message : "body failed");
      throw err;
    }
  }

  private async write(bytes: Uint8Array): Promise<void> {
    for (let off = 0; off < bytes.byteLength;) {
      if (this.closed) return;
      while (this.credit <= 0 && !this.closed) await new Promise<void>((r) => this.creditWaiters.push(r));
      if (this.closed) return;
      await this.mux.writable();
      const n = Math.min(this.credit, MAX_CHUNK_BYTES, bytes.byteLength - off);
      this.credit -= n;
      this.mux.sendData(this.id, bytes.subarray(off, off + n));
      off += n;
    }
  }

  /** Aborts the stream in both directions and tells the peer. */
  reset(code: string, message?: string): void {
    if (this.closed) return;
    this.mux.sendControl({ t: "reset", id: this.id, code, message });
    this.abort(new StreamReset(code, message ?? code));
  }

  /** Local abort without telling the peer (the peer reset, or the socket died). */
  abort(err: unknown): void {
    if (this.closed) return;
    this.failInbound(err);
    this.closed = true;
    this.grantCredit(0);
    this.mux.forget(this.id);
    this.onClose?.(err);
  }

  private maybeClose(): void {
    if (this.sendDone && this.inEnded && !this.queue.length && !this.closed) {
      this.closed = true;
      this.mux.forget(this.id);
      this.onClose?.();
    }
  }
}

export class StreamReset extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "StreamReset";
  }
}

/** Owns the streams of one socket; the caller feeds it frames and handles the non-stream control frames. */
export class Mux {
  readonly streams = new Map<number, Stream>();

  constructor(
    private readonly wire: Wire,
    private readonly onControl: (f: ControlFrame) => void,
  ) {}

  sendControl(f: ControlFrame): void {
    if (this.wire.isOpen()) this.wire.send(JSON.stringify(f));
  }

  sendData(id: number, payload: Uint8Array): void {
    if (this.wire.isOpen()) this.wire.send(encodeData(id, payload));
  }

  /** Resolves when the socket buffer is below the high-water mark (or the socket is gone). */
  async writable(): Promise<void> {
    while (this.wire.isOpen() && this.wire.bufferedAmount() > SOCKET_HIGH_WATER) {
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  open(id: number): Stream {
    if (this.streams.has(id)) throw new ProtocolViolation(`stream ${id} already open`);
    const s = new Stream(id, this);
    this.streams.set(id, s);
    return s;
  }

  forget(id: number): void {
    this.streams.delete(id);
  }

  /** Dispatches one incoming WebSocket message. Throws ProtocolViolation (the caller closes the socket). */
  receive(data: Uint8Array | string): void {
    if (typeof data !== "string") {
      const { id, payload } = decodeData(data);
      this.streams.get(id)?.pushData(payload);
      return;
    }
    const f = parseControl(data);
    switch (f.t) {
      case "end":
        this.streams.get(f.id)?.endInbound();
        return;
      case "credit":
        this.streams.get(f.id)?.grantCredit(f.n);
        return;
      case "reset":
        this.streams.get(f.id)?.abort(new StreamReset(f.code, f.message ?? f.code));
        return;
      default:
        this.onControl(f);
    }
  }

  /** The socket is gone: every stream fails with `err`. Nothing is replayed. */
  failAll(err: unknown): void {
    for (const s of [...this.streams.values()]) s.abort(err);
    this.streams.clear();
  }
}
