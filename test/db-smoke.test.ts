import { describe, expect, inject, it } from "vitest";
import { getDb, isUniqueViolation } from "@/lib/db";

describe("database", () => {
  it("starts empty and migrated, and enforces unique emails", async () => {
    const db = await getDb();
    expect(await db.user.count()).toBe(0);
    await db.user.create({ data: { email: "a@example.com" } });
    const dup = await db.user.create({ data: { email: "a@example.com" } }).catch((e: unknown) => e);
    expect(isUniqueViolation(dup)).toBe(true);
  });

  it("answers other requests while a statement runs, and rolls back what a failed transaction wrote", async () => {
    const db = await getDb();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    try {
      // On the embedded database the statement runs on its own thread (lib/pglite-thread.ts).
      await db.$queryRaw`SELECT pg_sleep(1.5)::text AS slept`;
    } finally {
      clearInterval(timer);
    }
    expect(ticks).toBeGreaterThan(0);

    const failed = await db
      .$transaction(async (tx) => {
        await tx.user.create({ data: { email: "rolled-back@example.com" } });
        await tx.user.create({ data: { email: "rolled-back@example.com" } });
      })
      .catch((e: unknown) => e);
    expect(isUniqueViolation(failed)).toBe(true);
    expect(await db.user.count({ where: { email: "rolled-back@example.com" } })).toBe(0);
    // Values come back as the adapter parses them, whichever thread ran the statement.
    const at = new Date("2026-01-02T03:04:05.678Z");
    const [row] = await db.$queryRaw<{ at: Date; n: bigint; j: unknown }[]>`
      SELECT ${at}::timestamptz AS at, 9007199254740993::int8 AS n, '{"k":[1,"x",null]}'::jsonb AS j`;
    expect(row.at.toISOString()).toBe(at.toISOString());
    expect(row.n).toBe(9007199254740993n);
    expect(row.j).toEqual({ k: [1, "x", null] });
  });

  it.runIf(inject("dbKind") === "postgres")(
    "on PostgreSQL bounds every statement, in or out of a transaction",
    async () => {
      const db = await getDb();
      type Row = { statement_timeout: string }[];
      const show = "SHOW statement_timeout";
      expect((await db.$queryRawUnsafe<Row>(show))[0].statement_timeout).toBe("1min");
      const inTx = await db.$transaction(async (tx) => tx.$queryRawUnsafe<Row>(show));
      expect(inTx[0].statement_timeout).toBe("1min");
    },
  );
});
