import { describe, expect, inject, it } from "vitest";
import { getDb } from "@/lib/db";

describe("database", () => {
  it("starts empty and migrated, and enforces unique emails", async () => {
    const db = await getDb();
    expect(await db.user.count()).toBe(0);
    await db.user.create({ data: { email: "a@example.com" } });
    await expect(db.user.create({ data: { email: "a@example.com" } })).rejects.toThrow();
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
