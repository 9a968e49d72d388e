// The Prisma client: embedded PGlite under DATA_DIR by default, PostgreSQL when DATABASE_URL is set.
// One instance per process (PGlite is single-process: only the server process opens it).
import path from "node:path";
import { PrismaClient } from "@prisma/client";
import { env } from "@/lib/env";

type PgAdapter = InstanceType<typeof import("@prisma/adapter-pg").PrismaPg>;

type Holder = { client?: PrismaClient; close?: () => Promise<void> };
const holder = ((globalThis as { __pokeDb?: Holder }).__pokeDb ??= {});

export function pgliteDir(): string {
  return path.resolve(env().DATA_DIR, "pglite");
}

async function createClient(): Promise<{ client: PrismaClient; close: () => Promise<void> }> {
  const { DATABASE_URL } = env();
  if (DATABASE_URL) {
    const { PrismaPg } = await import("@prisma/adapter-pg");
    const client = new PrismaClient({ adapter: new PrismaPg({ connectionString: DATABASE_URL, max: 10 }) });
    return { client, close: () => client.$disconnect() };
  }
  const { PGlite } = await import("@electric-sql/pglite");
  const { PrismaPGlite } = await import("pglite-prisma-adapter");
  const pg = await PGlite.create(pgliteDir());
  // The adapter is typed against an older @prisma/driver-adapter-utils; it only uses sql + args, which match.
  const client = new PrismaClient({ adapter: new PrismaPGlite(pg) as unknown as PgAdapter });
  return {
    client,
    close: async () => {
      await client.$disconnect();
      await pg.close();
    },
  };
}

let creating: Promise<PrismaClient> | undefined;

/** The shared Prisma client (created on first use). */
export async function getDb(): Promise<PrismaClient> {
  if (holder.client) return holder.client;
  creating ??= createClient().then(({ client, close }) => {
    holder.client = client;
    holder.close = close;
    return client;
  });
  return creating;
}

export async function closeDb(): Promise<void> {
  const close = holder.close;
  holder.client = undefined;
  holder.close = undefined;
  creating = undefined;
  await close?.();
}

/** A unique-constraint violation, as reported by either adapter (PostgreSQL: P2002; PGlite: SQLSTATE 23505). */
export function isUniqueViolation(e: unknown): boolean {
  if (!e || typeof e !== "object") return false;
  const err = e as { code?: unknown; message?: unknown; cause?: { code?: unknown; originalCode?: unknown } };
  return (
    err.code === "P2002" ||
    err.code === "23505" ||
    err.cause?.code === "23505" ||
    err.cause?.originalCode === "23505" ||
    (typeof err.message === "string" && /duplicate key value violates unique constraint/.test(err.message))
  );
}
