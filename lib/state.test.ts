import { afterEach, describe, expect, it, vi } from "vitest";
import { processState, shutdown, TtlCache, upgrades } from "@/lib/state";

afterEach(async () => {
  vi.useRealTimers();
  await shutdown();
});

describe("processState", () => {
  it("creates a value once and hands every caller the same one", () => {
    const create = vi.fn(() => ({ n: 0 }));
    const a = processState("test:once", create);
    const b = processState("test:once", create);
    a.n++;
    expect(b).toBe(a);
    expect(b.n).toBe(1);
    expect(create).toHaveBeenCalledTimes(1);
  });

  it("is shared by every copy of the module, as Next.js bundles and server.ts each load their own", async () => {
    vi.resetModules();
    const copy = await import("@/lib/state");
    const value = processState("test:copies", () => ({}));
    expect(copy.processState("test:copies", () => ({ other: true }))).toBe(value);
    copy.upgrades().handle = () => true;
    expect(upgrades().handle?.({} as never, {} as never, Buffer.alloc(0))).toBe(true);
  });

  it("shutdown closes everything, newest first, and a failing close does not stop the rest", async () => {
    const closed: string[] = [];
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    processState(
      "test:pool",
      () => "pool",
      (v) => void closed.push(v),
    );
    processState("test:cache", () => "cache"); // nothing to close
    processState(
      "test:broken",
      () => "broken",
      () => {
        throw new Error("boom");
      },
    );
    processState(
      "test:queue",
      () => "queue",
      async (v) => {
        await new Promise((r) => setTimeout(r, 5));
        closed.push(v);
      },
    );
    await shutdown();
    expect(closed).toEqual(["queue", "pool"]);
    expect(errors).toHaveBeenCalledWith("poke: closing test:broken failed:", expect.any(Error));
    errors.mockRestore();
  });

  it("after shutdown a name is created afresh, and a second shutdown closes nothing twice", async () => {
    const close = vi.fn();
    const first = processState("test:again", () => ({}), close);
    await shutdown();
    await shutdown();
    expect(close).toHaveBeenCalledTimes(1);
    expect(processState("test:again", () => ({}))).not.toBe(first);
  });
});

describe("TtlCache", () => {
  it("forgets an entry when its time is up, per entry when a shorter ttl is given", () => {
    vi.useFakeTimers();
    const c = new TtlCache<string, number>({ ttlMs: 1_000, max: 10 });
    c.set("a", 1);
    c.set("short", 2, 100);
    vi.advanceTimersByTime(100);
    expect(c.get("short")).toBeUndefined();
    expect(c.get("a")).toBe(1);
    vi.advanceTimersByTime(899);
    expect(c.get("a")).toBe(1);
    vi.advanceTimersByTime(1);
    expect(c.get("a")).toBeUndefined();
    expect(c.size).toBe(0);
  });

  it("holds at most `max`: expired entries go first, then the oldest set", () => {
    vi.useFakeTimers();
    const c = new TtlCache<string, number>({ ttlMs: 1_000, max: 3 });
    c.set("old", 1);
    c.set("expiring", 2, 10);
    c.set("mid", 3);
    vi.advanceTimersByTime(10);
    c.set("new", 4); // room made by dropping the expired one
    expect([c.get("old"), c.get("mid"), c.get("new")]).toEqual([1, 3, 4]);
    c.set("old", 5); // setting again makes it the newest
    c.set("newest", 6); // full: the oldest set ("mid") goes
    expect(c.get("mid")).toBeUndefined();
    expect([c.get("new"), c.get("old"), c.get("newest")]).toEqual([4, 5, 6]);
    expect(c.size).toBe(3);
  });

  it("deleteWhere drops by key or by value, delete and clear drop the rest", () => {
    const c = new TtlCache<string, { owner: string }>({ ttlMs: 60_000, max: 10 });
    c.set("u1:a", { owner: "u1" });
    c.set("u1:b", { owner: "u1" });
    c.set("u2:a", { owner: "u2" });
    c.set("x", { owner: "u3" });
    c.deleteWhere((k) => k.startsWith("u1:"));
    expect([c.get("u1:a"), c.get("u1:b")]).toEqual([undefined, undefined]);
    c.deleteWhere((_k, v) => v.owner === "u2");
    expect(c.get("u2:a")).toBeUndefined();
    expect(c.get("x")).toEqual({ owner: "u3" });
    c.delete("x");
    expect(c.size).toBe(0);
    c.set("y", { owner: "u4" });
    c.clear();
    expect(c.get("y")).toBeUndefined();
  });
});
