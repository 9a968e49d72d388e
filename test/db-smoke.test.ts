import { describe, expect, inject, it } from "vitest";
import { getDb, getDriver } from "@/lib/db";

describe("database", () => {
  it("starts empty and migrated, and enforces unique emails", async () => {
    const db = await getDb();
    expect(await db.user.count()).toBe(0);
    await db.user.create({ data: { email: "a@example.com" } });
    await expect(db.user.create({ data: { email: "a@example.com" } })).rejects.toThrow();
  });

  it.runIf(inject("dbKind") === "postgres")(
    "on PostgreSQL bounds every statement of the shared pool, in or out of a transaction",
    async () => {
      const driver = await getDriver();
      const timeout = async (q: typeof driver.query) =>
        (await q<{ statement_timeout: string }>("SHOW statement_timeout")).rows[0].statement_timeout;
      expect(await timeout(driver.query)).toBe("1min");
      expect(await driver.transaction((q) => timeout(q))).toBe("1min");
    },
  );
});
