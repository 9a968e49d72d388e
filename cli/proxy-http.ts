// The Streamable HTTP side of the HTTP → stdio relay: POSTs each message to the server and hands back what
// it answers (a JSON body or an SSE stream), keeps the session id and protocol version headers, holds the
// GET stream for server-initiated messages, and ends the session with DELETE. It relays messages without
// interpreting them, over one keep-alive connection pool (node:http/https), which is what makes it cheap.
import http, { type IncomingMessage } from "node:http";
import https from "node:https";

type Message = Record<string, unknown>;

export type HttpRelayOptions = {
  headers: Record<string, string>;
  /** false: do not check the certificate; a string: trust these CA certificates (PEM). */
  tls?: { rejectUnauthorized?: boolean; ca?: string };
};

/** A keep-alive agent and the request function for the URL's scheme (https with the relay's TLS options). */
function transportFor(url: URL, o: HttpRelayOptions): { agent: http.Agent; request: typeof http.request } {
  return url.protocol === "https:"
    ? { agent: new https.Agent({ keepAlive: true, ...o.tls }), request: https.request }
    : { agent: new http.Agent({ keepAlive: true }), request: http.request };
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`HTTP ${status}${body ? `: ${body.slice(0, 200)}` : ""}`);
    this.name = "HttpError";
  }
}

export class StreamableHttpRelay {
  onmessage?: (m: Message) => void;
  onerror?: (e: Error) => void;
  onclose?: () => void;
  sessionId?: string;
  private protocolVersion?: string;
  private readonly agent: http.Agent;
  private readonly request: typeof http.request;
  private getStream?: http.ClientRequest;
  private closed = false;
  private getRetryMs = 1000;

  constructor(
    private readonly url: URL,
    private readonly o: HttpRelayOptions,
  ) {
    ({ agent: this.agent, request: this.request } = transportFor(url, o));
  }

  async start(): Promise<void> {}

  setProtocolVersion(v: string): void {
    this.protocolVersion = v;
  }

  private headers(extra: Record<string, string>): Record<string, string> {
    const h: Record<string, string> = { ...this.o.headers, ...extra };
    if (this.sessionId) h["mcp-session-id"] = this.sessionId;
    if (this.protocolVersion) h["mcp-protocol-version"] = this.protocolVersion;
    return h;
  }

  private send_(method: string, headers: Record<string, string>, body?: string): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const req = this.request(this.url, { method, agent: this.agent, headers }, resolve);
      req.on("error", reject);
      if (method === "GET") this.getStream = req;
      req.end(body);
    });
  }

  async send(m: Message): Promise<void> {
    if (this.closed) throw new Error("the connection is closed");
    const body = JSON.stringify(m);
    const isInitialize = m.method === "initialize";
    const headers = this.headers({
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "content-length": String(Buffer.byteLength(body)),
    });
    if (isInitialize) delete headers["mcp-session-id"];
    const res = await this.send_("POST", headers, body);
    const status = res.statusCode ?? 0;
    if (status >= 400) throw new HttpError(status, await readText(res));
    if (isInitialize) {
      const sid = res.headers["mcp-session-id"];
      this.sessionId = Array.isArray(sid) ? sid[0] : sid;
    }
    if (status === 202 || status === 204) {
      res.resume();
      if (m.method === "notifications/initialized") this.openGetStream();
      return;
    }
    const type = String(res.headers["content-type"] ?? "");
    if (/text\/event-stream/i.test(type)) {
      readEvents(
        res,
        (data, event) => event === "message" && this.deliver(data),
        (e) => this.onerror?.(e),
      );
      return;
    }
    const text = await readText(res);
    if (text) this.deliver(text);
  }

  private deliver(text: string) {
    deliver(text, this);
  }

  /** The stream for server-initiated messages; opened again when it ends while the session lives. */
  private openGetStream() {
    if (this.closed) return;
    this.send_("GET", this.headers({ accept: "text/event-stream" }))
      .then((res) => {
        const status = res.statusCode ?? 0;
        if (status === 405 || status === 404 || status >= 400) return void res.resume(); // no stream offered
        this.getRetryMs = 1000;
        readEvents(
          res,
          (data, event) => event === "message" && this.deliver(data),
          () => {},
          () => this.retryGetStream(),
        );
      })
      .catch(() => this.retryGetStream());
  }

  private retryGetStream() {
    if (this.closed) return;
    const t = setTimeout(() => this.openGetStream(), this.getRetryMs);
    t.unref();
    this.getRetryMs = Math.min(this.getRetryMs * 2, 30_000);
  }

  async terminateSession(): Promise<void> {
    if (!this.sessionId || this.closed) return;
    const res = await this.send_("DELETE", this.headers({}));
    res.resume();
    this.sessionId = undefined;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.getStream?.destroy();
    this.agent.destroy();
    this.onclose?.();
  }
}

function deliver(text: string, t: { onmessage?: (m: Message) => void; onerror?: (e: Error) => void }) {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    t.onerror?.(new Error(`the server sent something that is not JSON: ${text.slice(0, 120)}`));
    return;
  }
  for (const m of Array.isArray(v) ? v : [v]) if (m && typeof m === "object") t.onmessage?.(m as Message);
}

/**
 * The legacy HTTP+SSE side of the relay: one GET stream that first names the endpoint for POSTs (on the
 * server's own origin) and then carries every message from the server.
 */
export class SseRelay {
  onmessage?: (m: Message) => void;
  onerror?: (e: Error) => void;
  onclose?: () => void;
  private readonly agent: http.Agent;
  private readonly request: typeof http.request;
  private stream?: http.ClientRequest;
  private endpoint?: URL;
  private closed = false;

  constructor(
    private readonly url: URL,
    private readonly o: HttpRelayOptions,
  ) {
    ({ agent: this.agent, request: this.request } = transportFor(url, o));
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const req = this.request(
        this.url,
        { method: "GET", agent: this.agent, headers: { ...this.o.headers, accept: "text/event-stream" } },
        (res) => {
          const status = res.statusCode ?? 0;
          if (status >= 400) return void readText(res).then((t) => reject(new HttpError(status, t)), reject);
          readEvents(
            res,
            (data, event) => {
              if (event === "endpoint") {
                const u = new URL(data, this.url);
                if (u.origin !== this.url.origin)
                  return reject(new Error(`the server named an endpoint on another origin (${u.origin})`));
                this.endpoint = u;
                return resolve();
              }
              if (event === "message") deliver(data, this);
            },
            (e) => this.onerror?.(e),
            () => {
              if (!this.endpoint) reject(new Error("the SSE stream ended before naming its endpoint"));
              void this.close();
            },
          );
        },
      );
      req.on("error", reject);
      this.stream = req;
      req.end();
    });
  }

  setProtocolVersion(): void {}

  send(m: Message): Promise<void> {
    if (this.closed || !this.endpoint) return Promise.reject(new Error("the connection is closed"));
    const body = JSON.stringify(m);
    return new Promise((resolve, reject) => {
      const req = this.request(
        this.endpoint!,
        {
          method: "POST",
          agent: this.agent,
          headers: {
            ...this.o.headers,
            "content-type": "application/json",
            "content-length": String(Buffer.byteLength(body)),
          },
        },
        (res) => {
          const status = res.statusCode ?? 0;
          if (status >= 400) return void readText(res).then((t) => reject(new HttpError(status, t)), reject);
          res.resume();
          resolve();
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stream?.destroy();
    this.agent.destroy();
    this.onclose?.();
  }
}

function readText(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on("data", (c: Buffer) => chunks.push(c));
    res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    res.on("error", reject);
  });
}

/** Server-sent events: calls `ondata` with the data of each `message` event (or event without a name). */
function readEvents(
  res: IncomingMessage,
  ondata: (data: string, event: string) => void,
  onerror: (e: Error) => void,
  onend?: () => void,
) {
  res.setEncoding("utf8");
  let buf = "";
  let data: string[] = [];
  let event = "";
  const line = (l: string) => {
    if (l === "") {
      if (data.length) ondata(data.join("\n"), event || "message");
      data = [];
      event = "";
      return;
    }
    if (l.startsWith(":")) return;
    const i = l.indexOf(":");
    const field = i < 0 ? l : l.slice(0, i);
    let value = i < 0 ? "" : l.slice(i + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") data.push(value);
    else if (field === "event") event = value;
  };
  res.on("data", (chunk: string) => {
    buf += chunk;
    let i: number;
    while ((i = buf.search(/\r\n|\r|\n/)) >= 0) {
      if (buf[i] === "\r" && i === buf.length - 1) break; // maybe \r\n split across chunks
      const l = buf.slice(0, i);
      buf = buf.slice(buf[i] === "\r" && buf[i + 1] === "\n" ? i + 2 : i + 1);
      line(l);
    }
  });
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    onend?.();
  };
  res.on("error", onerror);
  res.on("end", end);
  res.on("close", end);
}
