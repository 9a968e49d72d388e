import { describe, expect, it } from "vitest";
import { definitionHash, normalizeTool, sanitizeJson, stableStringify } from "@/lib/mcp/discover";
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

describe("tool normalization and hashing", () => {
  it("hashes independently of key order and changes with the definition", () => {
    const a = normalizeTool({
      name: "t",
      description: "d",
      inputSchema: { type: "object", properties: { x: {}, y: {} } },
    })!;
    const b = normalizeTool({
      inputSchema: { properties: { y: {}, x: {} }, type: "object" },
      description: "d",
      name: "t",
    })!;
    expect(a.definitionHash).toBe(b.definitionHash);
    const c = normalizeTool({ name: "t", description: "changed", inputSchema: { type: "object" } })!;
    expect(c.definitionHash).not.toBe(a.definitionHash);
    expect(definitionHash({ ...a, annotations: { readOnlyHint: true } })).not.toBe(a.definitionHash);
    expect(stableStringify({ b: 1, a: [2, { d: 1, c: 2 }] })).toBe('{"a":[2,{"c":2,"d":1}],"b":1}');
  });
  it("rejects nameless tools and over-deep schemas, drops __proto__ keys", () => {
    expect(normalizeTool({ description: "no name" })).toBeUndefined();
    let deep: Record<string, unknown> = {};
    const root = deep;
    for (let i = 0; i < 80; i++) deep = (deep.a = {}) as Record<string, unknown>;
    expect(() => normalizeTool({ name: "deep", inputSchema: root })).toThrow(/nested more than 64/);
    const parsed = JSON.parse('{"__proto__":{"polluted":true},"ok":1}');
    const clean = sanitizeJson(parsed, "x") as Record<string, unknown>;
    expect(Object.keys(clean)).toEqual(["ok"]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
