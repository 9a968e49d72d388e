// The Prisma client: embedded PGlite under DATA_DIR by default, PostgreSQL when DATABASE_URL is set. One
// instance per process, registered in the process state (PGlite is single-process: only the server opens it).
// Every query of the app goes through it, from lib/data/*.
import path from "node:path";
import { PrismaClient } from "@prisma/client";
import { env } from "@/lib/env";
import { log } from "@/lib/log";
import { PGliteThread } from "@/lib/pglite-thread";
import { processState } from "@/lib/state";

type PgAdapter = InstanceType<typeof import("@prisma/adapter-pg").PrismaPg>;
type PGlite = import("@electric-sql/pglite").PGlite;
type PoolStats = { totalCount: number; idleCount: number; waitingCount: number };
type Opened = { client: PrismaClient; close: () => Promise<void>; pool?: PoolStats };
type Holder = { opened?: Opened; opening?: Promise<Opened> };
const holder = processState<Holder>(
  "db",
  () => ({}),
  () => closeDb(),
);

export function pgliteDir(): string {
  return path.resolve(env().DATA_DIR, "pglite");
}

/**
 * PostgreSQL: waiting for a pooled connection, and every statement (lock waits included), are bounded: a
 * stuck statement ends, and with it its transaction's locks.
 */
const CONNECT_TIMEOUT_MS = 30_000;
const STATEMENT_TIMEOUT_MS = 60_000;

async function open(): Promise<Opened> {
  const { DATABASE_URL } = env();
  if (DATABASE_URL) {
    const [{ default: pg }, { PrismaPg }] = await Promise.all([import("pg"), import("@prisma/adapter-pg")]);
    const pool = new pg.Pool({
      connectionString: DATABASE_URL,
      max: 10,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      statement_timeout: STATEMENT_TIMEOUT_MS,
    });
    // An idle connection that fails is dropped by the pool; without a listener the process would crash.
    pool.on("error", (err) => log.warn("idle database connection failed", { err: String(err) }));
    const client = new PrismaClient({ adapter: new PrismaPg(pool) });
    return {
      client,
      pool,
      close: async () => {
        await client.$disconnect();
        await pool.end();
      },
    };
  }
  const [{ messages }, { PrismaPGlite }] = await Promise.all([
    import("@electric-sql/pglite"),
    import("pglite-prisma-adapter"),
  ]);
  // On its own thread (lib/pglite-thread.ts); its errors come back as PGlite's, which the adapter maps.
  const pg = await PGliteThread.open(pgliteDir(), ({ message, database, ...fields }) =>
    database ? Object.assign(new messages.DatabaseError(message, 0, "error"), fields) : new Error(message),
  );
  // The adapter is typed against an older @prisma/driver-adapter-utils and PGlite's full class; it uses sql +
  // args, and the query, exec and transaction this thread answers.
  const client = new PrismaClient({
    adapter: new PrismaPGlite(pg as unknown as PGlite) as unknown as PgAdapter,
  });
  return {
    client,
    close: async () => {
      await client.$disconnect();
      await pg.close();
    },
  };
}

async function opened(): Promise<Opened> {
  if (holder.opened) return holder.opened;
  holder.opening ??= open().then(
    (o) => (holder.opened = o),
    (err: unknown) => {
      holder.opening = undefined;
      throw err;
    },
  );
  return holder.opening;
}

/** PostgreSQL pool use (metrics); undefined on the embedded database or before the first query. */
export function dbPoolStats(): { total: number; idle: number; waiting: number } | undefined {
  const p = holder.opened?.pool;
  return p && { total: p.totalCount, idle: p.idleCount, waiting: p.waitingCount };
}

/** The shared Prisma client (created on first use). */
export async function getDb(): Promise<PrismaClient> {
  return (await opened()).client;
}

export async function closeDb(): Promise<void> {
  const current = holder.opened ?? (await holder.opening?.catch(() => undefined));
  holder.opened = undefined;
  holder.opening = undefined;
  await current?.close();
}

/** A unique-constraint violation, as reported by either adapter (PostgreSQL: P2002; PGlite: SQLSTATE 23505). */
export function isUniqueViolation(e: unknown): boolean {
  if (!e || typeof e !== "object") return false;
  const err = e as { code?: unknown; cause?: { code?: unknown; originalCode?: unknown } };
  return (
    err.code === "P2002" ||
    err.code === "23505" ||
    err.cause?.code === "23505" ||
    err.cause?.originalCode === "23505"
  );
}
