// The embedded database on a thread of its own: PGlite's WebAssembly and its file writes run on a worker thread,
// beside the event loop instead of on it, so a commit never holds up requests (bench/README.md, "Agent
// endpoint"). The main thread keeps the part of PGlite's API that Prisma's PGlite adapter uses — query, exec,
// transaction, close — and forwards each call; every query still comes from Prisma (lib/db.ts).
//
// Values cross the thread as structured clones. Columns the caller parses itself (the adapter's `parsers`) come
// back as the database's text and are parsed here, with the caller's own functions, as PGlite would have.
import { join } from "node:path";
import { Worker } from "node:worker_threads";

type Parser = (value: string, typeId: number) => unknown;
type QueryOptions = { rowMode?: "array" | "object"; parsers?: Record<number, Parser> };
type Field = { name: string; dataTypeID: number };
type Results = { rows: unknown[]; fields: Field[]; affectedRows?: number };
type ErrorFields = Record<string, unknown> & { message: string };
type Pending = { resolve: (value: unknown) => void; reject: (err: unknown) => void };

const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { PGlite, messages } = require(workerData.pglite);
let db;
const txs = new Map();
const reply = (id, value) => parentPort.postMessage({ id, value });
const fail = (id, err) => {
  const fields = { message: String((err && err.message) || err) };
  if (err && typeof err === "object") {
    for (const k of ["severity", "code", "detail", "hint", "position", "where", "schema", "table", "column", "dataType", "constraint", "routine"]) {
      if (typeof err[k] === "string") fields[k] = err[k];
    }
    fields.database = err instanceof messages.DatabaseError;
  }
  parentPort.postMessage({ id, error: fields });
};
const results = (r) => ({ rows: r.rows, fields: r.fields, affectedRows: r.affectedRows });
parentPort.on("message", async (m) => {
  try {
    if (m.op === "open") {
      db = await PGlite.create(workerData.dir);
      return reply(m.id, null);
    }
    const on = m.tx && (m.op === "query" || m.op === "exec") ? txs.get(m.tx).tx : db;
    if (m.op === "query") {
      const parsers = Object.fromEntries(m.raw.map((oid) => [oid, (x) => x]));
      return reply(m.id, results(await on.query(m.sql, m.params, { rowMode: m.rowMode, parsers })));
    }
    if (m.op === "exec") return reply(m.id, (await on.exec(m.sql)).map(results));
    if (m.op === "begin") {
      const t = { begun: false };
      db.transaction((tx) => new Promise((end) => {
        Object.assign(t, { tx, end, begun: true });
        txs.set(m.tx, t);
        reply(m.id, null);
      })).then(
        () => t.endId !== undefined && reply(t.endId, null),
        (err) => (t.begun ? t.endId !== undefined && fail(t.endId, err) : fail(m.id, err)),
      ).finally(() => txs.delete(m.tx));
      return;
    }
    if (m.op === "end") {
      const t = txs.get(m.tx);
      t.endId = m.id;
      try {
        if (m.rollback && !t.tx.closed) await t.tx.rollback();
      } finally {
        t.end(); // whatever happened, the transaction ends and the database is free again
      }
      return;
    }
    if (m.op === "close") {
      await db.close();
      return reply(m.id, null);
    }
  } catch (err) {
    fail(m.id, err);
  }
});
`;

/** A transaction's handle, as PGlite's `transaction` callback receives it. */
export type ThreadTransaction = {
  query: PGliteThread["query"];
  exec: PGliteThread["exec"];
  rollback(): Promise<void>;
  readonly closed: boolean;
};

export class PGliteThread {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failure: Error | undefined;

  private constructor(
    private readonly worker: Worker,
    private readonly makeError: (fields: ErrorFields) => Error,
  ) {
    worker.on("message", (m: { id: number; value?: unknown; error?: ErrorFields }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (!this.pending.size) worker.unref();
      if (m.error) p.reject(this.makeError(m.error));
      else p.resolve(m.value);
    });
    const stopped = (err: Error) => {
      this.failure = err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    worker.on("error", (err) => stopped(new Error(`The embedded database stopped: ${err.message}`)));
    worker.on("exit", () => stopped(new Error("The embedded database is closed.")));
  }

  /**
   * Opens the data directory on a new thread. `makeError` turns a database error's fields back into the error
   * class the adapter expects (PGlite's own DatabaseError).
   */
  static async open(dir: string, makeError: (fields: ErrorFields) => Error): Promise<PGliteThread> {
    const { createRequire } = await import("node:module");
    const pglite = createRequire(join(process.cwd(), "package.json")).resolve("@electric-sql/pglite");
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { pglite, dir } });
    const thread = new PGliteThread(worker, makeError);
    try {
      await thread.send({ op: "open" });
    } catch (err) {
      await worker.terminate();
      throw err;
    }
    return thread;
  }

  private send(message: Record<string, unknown>): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    // Like a socket: the thread keeps the process alive only while a statement is under way.
    if (!this.pending.size) this.worker.ref();
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...message, id });
    });
  }

  async query(sql: string, params: unknown[] = [], opts: QueryOptions = {}, tx?: number): Promise<Results> {
    const parsers = opts.parsers ?? {};
    const raw = Object.keys(parsers).map(Number);
    const r = (await this.send({ op: "query", sql, params, rowMode: opts.rowMode, raw, tx })) as Results;
    if (!raw.length) return r;
    const parse = (value: unknown, field: Field) => {
      const parser = parsers[field.dataTypeID] as Parser | undefined;
      return parser && typeof value === "string" ? parser(value, field.dataTypeID) : value;
    };
    const rows = r.rows.map((row) =>
      Array.isArray(row)
        ? row.map((v, i) => parse(v, r.fields[i]))
        : Object.fromEntries(
            r.fields.map((f) => [f.name, parse((row as Record<string, unknown>)[f.name], f)]),
          ),
    );
    return { ...r, rows };
  }

  async exec(sql: string, tx?: number): Promise<Results[]> {
    return (await this.send({ op: "exec", sql, tx })) as Results[];
  }

  /** Runs `fn` inside one transaction: committed when it returns, rolled back when it throws or asks to. */
  async transaction<T>(fn: (tx: ThreadTransaction) => Promise<T>): Promise<T> {
    const id = this.nextId++;
    await this.send({ op: "begin", tx: id });
    let rolledBack = false;
    const tx: ThreadTransaction = {
      query: (sql, params, opts) => this.query(sql, params, opts, id),
      exec: (sql) => this.exec(sql, id),
      rollback: async () => {
        rolledBack = true;
      },
      get closed() {
        return rolledBack;
      },
    };
    let result: T;
    try {
      result = await fn(tx);
    } catch (err) {
      await this.send({ op: "end", tx: id, rollback: true }).catch(() => undefined);
      throw err;
    }
    await this.send({ op: "end", tx: id, rollback: rolledBack });
    return result;
  }

  async close(): Promise<void> {
    try {
      await this.send({ op: "close" });
    } finally {
      await this.worker.terminate();
    }
  }
}
