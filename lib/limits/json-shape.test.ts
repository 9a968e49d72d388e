import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AppError } from "@/lib/errors";
import { assertJsonShape, jsonProblem, measureJson, MAX_JSON_DEPTH } from "@/lib/limits/json-shape";

/** The model: depth by plain recursion (fine for the small values generated here). */
function modelDepth(v: unknown): number {
  if (v === null || typeof v !== "object") return 0;
  const children = Array.isArray(v) ? v : Object.values(v);
  return 1 + Math.max(0, ...children.map(modelDepth));
}

const nestedText = (levels: number) => '{"v":'.repeat(levels) + "0" + "}".repeat(levels);

describe("measureJson", () => {
  it("agrees with a recursive model on depth, and with JSON.stringify on size (never more)", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const m = measureJson(v, { maxDepth: 1000, maxBytes: 1e9 });
        expect(m.problem).toBeUndefined();
        expect(m.depth).toBe(modelDepth(v));
        const text = JSON.stringify(v);
        // Strings are counted without their escapes; everything else exactly.
        expect(m.bytes).toBeLessThanOrEqual(text.length);
        if (!/\\/.test(text)) expect(m.bytes).toBe(text.length);
      }),
    );
  });

  it("flags exactly the values past each limit", () => {
    fc.assert(
      fc.property(
        fc.jsonValue(),
        fc.integer({ min: 0, max: 6 }),
        fc.integer({ min: 1, max: 200 }),
        (v, d, b) => {
          const p = jsonProblem(v, { maxDepth: d, maxBytes: b });
          const full = measureJson(v, { maxDepth: 1000, maxBytes: 1e9 });
          if (full.depth > d || full.bytes > b) expect(p?.code).toMatch(/^too_(deep|large)$/);
          else expect(p).toBeUndefined();
          if (full.depth > d && p?.code === "too_deep")
            expect(p.text).toBe(`is nested more than ${d} levels deep`);
        },
      ),
    );
  });

  it("measures 100 000 levels without recursion and stops at the limit", () => {
    const v = JSON.parse(nestedText(100_000)); // V8 parses this; JSON.stringify(v) would overflow
    const m = measureJson(v);
    expect(m.problem?.code).toBe("too_deep");
    expect(m.depth).toBe(MAX_JSON_DEPTH + 1);
    const arrays = JSON.parse("[".repeat(100_000) + "]".repeat(100_000));
    expect(jsonProblem(arrays)?.text).toBe("is nested more than 64 levels deep");
  });

  it("takes a value exactly at the depth limit", () => {
    expect(measureJson(JSON.parse(nestedText(MAX_JSON_DEPTH)))).toMatchObject({ depth: 64 });
    expect(jsonProblem(JSON.parse(nestedText(MAX_JSON_DEPTH)))).toBeUndefined();
    expect(jsonProblem(JSON.parse(nestedText(MAX_JSON_DEPTH + 1)))?.code).toBe("too_deep");
  });

  it("refuses a wide value past the size limit", () => {
    const wide = Array.from({ length: 1000 }, (_, i) => ({ [`k${i}`]: "x".repeat(100) }));
    expect(jsonProblem(wide, { maxBytes: 64 * 1024 })).toEqual({
      code: "too_large",
      text: "is larger than 64 KiB",
    });
    expect(jsonProblem(wide)).toBeUndefined();
  });

  it("assertJsonShape throws a 502 AppError naming what was refused", () => {
    const err = (() => {
      try {
        assertJsonShape(JSON.parse(nestedText(1000)), 'The result of "search"');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({
      code: "too_deep",
      status: 502,
      message: 'The result of "search" is nested more than 64 levels deep; Poke refuses it.',
    });
  });
});
