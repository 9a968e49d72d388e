import { describe, expect, it } from "vitest";
import { exposedName, slugify } from "@/lib/agent/catalog";

const VALID = /^[A-Za-z0-9_.-]{1,128}$/;

describe("agent tool names", () => {
  it("slugifies integration names", () => {
    expect(slugify("My GitHub")).toBe("my_github");
    expect(slugify("  Linear.app  ")).toBe("linear.app");
    expect(slugify("a__b")).toBe("a_b"); // no separator inside a slug
    expect(slugify("___")).toBe("integration");
    expect(slugify("x".repeat(80))).toHaveLength(40);
  });

  it("makes valid names, shortening long ones and resolving collisions deterministically", () => {
    const taken = new Set<string>();
    expect(exposedName("gh", "create_issue", taken)).toBe("gh__create_issue");
    const spaced = exposedName("gh", "create issue", taken);
    expect(spaced).toMatch(/^gh__create_issue-[0-9a-f]{6}$/); // sanitizes to a taken name → hashed
    const long = exposedName("gh", "t".repeat(200), taken);
    expect(long).toMatch(VALID);
    expect(long).toHaveLength(128);
    expect(exposedName("gh", "a/b", new Set())).toBe("gh__a_b");
    // the same inputs in the same order always give the same names
    const again = new Set<string>();
    expect([exposedName("gh", "create_issue", again), exposedName("gh", "create issue", again)]).toEqual([
      "gh__create_issue",
      spaced,
    ]);
    for (const n of taken) expect(n).toMatch(VALID);
  });
});
