import { describe, expect, it } from "vitest";
import { keyedSerializer } from "@/lib/serialize";

/** A promise with its resolve function, to decide from outside when a run ends. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

describe("keyedSerializer", () => {
  it("runs one key's calls in order, other keys alongside", async () => {
    const serialized = keyedSerializer("test-chains");
    const order: string[] = [];
    const a1 = gate();
    const first = serialized("a", async () => {
      await a1.opened;
      order.push("a1");
    });
    const second = serialized("a", async () => void order.push("a2"));
    // b runs while a1 is still waiting
    await serialized("b", async () => void order.push("b1"));
    expect(order).toEqual(["b1"]);
    a1.open();
    await Promise.all([first, second]);
    expect(order).toEqual(["b1", "a1", "a2"]);
  });

  it("a failing run does not stop the next one of its key", async () => {
    const serialized = keyedSerializer("test-chains");
    const failed = serialized("k", async () => {
      throw new Error("boom");
    });
    await expect(failed).rejects.toThrow("boom");
    await expect(serialized("k", async () => "ran")).resolves.toBe("ran");
  });
});
