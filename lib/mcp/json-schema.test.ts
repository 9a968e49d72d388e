import { describe, expect, it } from "vitest";
import { describeIssues, validateJsonSchema } from "@/lib/mcp/json-schema";

const form = {
  type: "object",
  properties: {
    name: { type: "string", minLength: 2, maxLength: 5 },
    count: { type: "integer", minimum: 1, maximum: 10 },
    ratio: { type: "number", exclusiveMaximum: 1 },
    mode: { enum: ["a", "b"] },
    tags: { type: "array", items: { type: "string" }, maxItems: 2 },
    nested: {
      type: "object",
      properties: { ok: { type: "boolean" } },
      required: ["ok"],
      additionalProperties: false,
    },
    maybe: { type: ["string", "null"] },
    ref: { $ref: "#/$defs/pos" },
    remote: { $ref: "https://evil.example/schema.json" },
  },
  required: ["name"],
  $defs: { pos: { type: "number", minimum: 0 } },
};

const paths = (v: unknown, s: unknown = form) => validateJsonSchema(s, v).map((i) => i.path);

describe("validateJsonSchema", () => {
  it("accepts valid arguments", () => {
    expect(
      validateJsonSchema(form, {
        name: "abc",
        count: 3,
        ratio: 0.5,
        mode: "a",
        tags: ["x"],
        nested: { ok: true },
        maybe: null,
        ref: 2,
        remote: { anything: 1 },
      }),
    ).toEqual([]);
  });
  it("reports each violation with its path", () => {
    expect(paths({})).toEqual(["name"]);
    expect(paths({ name: "a" })).toEqual(["name"]);
    expect(paths({ name: "abcdef" })).toEqual(["name"]);
    expect(paths({ name: "ab", count: 1.5 })).toEqual(["count"]);
    expect(paths({ name: "ab", count: 11 })).toEqual(["count"]);
    expect(paths({ name: "ab", ratio: 1 })).toEqual(["ratio"]);
    expect(paths({ name: "ab", mode: "c" })).toEqual(["mode"]);
    expect(paths({ name: "ab", tags: ["x", 2, "z"] })).toEqual(["tags", "tags[1]"]);
    expect(paths({ name: "ab", nested: { extra: 1 } })).toEqual(["nested.ok", "nested.extra"]);
    expect(paths({ name: "ab", maybe: 3 })).toEqual(["maybe"]);
    expect(paths({ name: "ab", ref: -1 })).toEqual(["ref"]);
    expect(paths("not an object")).toEqual(["(root)"]);
  });
  it("reads well", () => {
    const msg = describeIssues(validateJsonSchema(form, { count: "3" }));
    expect(msg).toBe("name is required; count must be integer (got string)");
  });
  it("ignores unknown keywords and survives hostile schemas", () => {
    expect(validateJsonSchema({ type: "object", "x-custom": 1 }, {})).toEqual([]);
    expect(validateJsonSchema({ $ref: "#" }, {})).toEqual(expect.any(Array)); // self-reference terminates
    expect(validateJsonSchema({ type: "string", pattern: "(a+)+$" }, "a".repeat(40) + "!")).toEqual([]);
  });
});
