import { describe, expect, it } from "vitest";
import { batched, keyedSerializer } from "@/lib/serialize";

const tick = () => new Promise((r) => setImmediate(r));

describe("batched (group commit)", () => {
  it("runs calls made in one turn together, answering each in order", async () => {
    const runs: number[][] = [];
    const double = batched(async (xs: number[]) => {
      runs.push(xs);
      return xs.map((x) => x * 2);
    });
    await expect(Promise.all([double(1), double(2), double(3)])).resolves.toEqual([2, 4, 6]);
    expect(runs).toEqual([[1, 2, 3]]);
  });

  it("collects calls made while a batch runs into the next one; one batch at a time", async () => {
    const runs: number[][] = [];
    let active = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const echo = batched(async (xs: number[]) => {
      active++;
      expect(active).toBe(1);
      runs.push(xs);
      if (runs.length === 1) await gate;
      active--;
      return xs;
    });
    const first = echo(1);
    await tick();
    const later = [echo(2), echo(3)];
    await tick();
    expect(runs).toEqual([[1]]);
    release();
    await expect(Promise.all([first, ...later])).resolves.toEqual([1, 2, 3]);
    expect(runs).toEqual([[1], [2, 3]]);
  });

  it("fails only the batch that failed; the next batch runs", async () => {
    let n = 0;
    const flaky = batched(async (xs: string[]) => {
      if (n++ === 0) throw new Error("database unavailable");
      return xs.map((x) => x.toUpperCase());
    });
    const failed = Promise.allSettled([flaky("a"), flaky("b")]);
    expect((await failed).map((r) => r.status)).toEqual(["rejected", "rejected"]);
    await expect(flaky("c")).resolves.toBe("C");
  });
});

describe("keyedSerializer", () => {
  it("runs one key's calls in order, other keys alongside", async () => {
    const serialized = keyedSerializer("__pokeTestChains");
    const order: string[] = [];
    const step = (key: string, label: string, ms: number) =>
      serialized(key, async () => {
        await new Promise((r) => setTimeout(r, ms));
        order.push(label);
      });
    await Promise.all([step("a", "a1", 20), step("a", "a2", 0), step("b", "b1", 5)]);
    expect(order).toEqual(["b1", "a1", "a2"]);
  });
});
