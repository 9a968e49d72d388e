import { describe, expect, it } from "vitest";
import { getDb } from "@/lib/db";

describe("database", () => {
  it("starts empty and migrated, and enforces unique emails", async () => {
    const db = await getDb();
    expect(await db.user.count()).toBe(0);
    await db.user.create({ data: { email: "a@example.com" } });
    await expect(db.user.create({ data: { email: "a@example.com" } })).rejects.toThrow();
  });
});
