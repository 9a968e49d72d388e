import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { definitionHash, normalizeTool, xMcpHeaderProblem, type ToolDefinition } from "@/lib/mcp/discover";

const tool = (raw: Record<string, unknown>) => normalizeTool(raw) as ToolDefinition;

describe("tool normalization", () => {
  it("keeps the key order the server sent, at every depth", () => {
    const t = tool({
      name: "gzip",
      inputSchema: {
        type: "object",
        properties: { name: { type: "string" }, data: { type: "string" }, outputType: { enum: ["b", "a"] } },
        required: ["name", "data"],
      },
      annotations: { title: "Zip", readOnlyHint: true },
      _meta: { "z/first": 1, "a/second": { y: 1, x: 2 } },
    });
    expect(JSON.stringify(t.inputSchema)).toBe(
      '{"type":"object","properties":{"name":{"type":"string"},"data":{"type":"string"},"outputType":{"enum":["b","a"]}},"required":["name","data"]}',
    );
    expect(Object.keys(t.annotations!)).toEqual(["title", "readOnlyHint"]);
    expect(JSON.stringify(t.meta)).toBe('{"z/first":1,"a/second":{"y":1,"x":2}}');
  });

  it("a reordered schema is a change (pages show the server's order); equal definitions hash equally", () => {
    const a = tool({ name: "t", inputSchema: { type: "object", properties: { x: {}, y: {} } } });
    const same = tool({ inputSchema: { type: "object", properties: { x: {}, y: {} } }, name: "t" });
    const reordered = tool({ name: "t", inputSchema: { type: "object", properties: { y: {}, x: {} } } });
    expect(same.definitionHash).toBe(a.definitionHash);
    expect(reordered.definitionHash).not.toBe(a.definitionHash);
    expect(definitionHash({ ...a, annotations: { readOnlyHint: true } })).not.toBe(a.definitionHash);
    expect(definitionHash({ ...a, meta: { k: 1 } })).not.toBe(a.definitionHash);
  });

  it("a definition sent with sorted keys and no _meta hashes as catalogs stored before _meta was kept", () => {
    // sha256 of the canonical (sorted-key) JSON of the six definition fields
    const canonical = (v: unknown): string =>
      v === null || typeof v !== "object"
        ? JSON.stringify(v)
        : Array.isArray(v)
          ? `[${v.map(canonical).join(",")}]`
          : `{${Object.keys(v)
              .sort()
              .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
              .join(",")}}`;
    const t = tool({
      name: "search",
      title: "Search",
      description: "Finds things",
      inputSchema: { properties: { q: { type: "string" } }, type: "object" },
      annotations: { readOnlyHint: true },
    });
    const { annotations, description, inputSchema, name, outputSchema, title } = t;
    const before = canonical({ annotations, description, inputSchema, name, outputSchema, title });
    expect(t.definitionHash).toBe(createHash("sha256").update(before).digest("hex"));
  });

  it("refuses a tool whose name the database can't store, and says why", () => {
    expect(normalizeTool({ name: "bad\u0000name", inputSchema: {} })).toEqual({
      refused: { name: "bad\uFFFDname", reason: "its name contains a NUL character" },
    });
    expect(normalizeTool({ name: "lone\uD800", inputSchema: {} })).toEqual({
      refused: { name: "lone\uFFFD", reason: "its name is not valid Unicode" },
    });
  });

  it("stores text with NUL or lone surrogates safely, and keeps NUL inside JSON (escaped by JSON columns)", () => {
    const t = tool({
      name: "ok",
      title: "a\u0000b",
      description: "x\uDC00y",
      inputSchema: { type: "object", properties: { "k\u0000": { description: "v\uD800" } } },
    });
    expect(t.title).toBe("a\uFFFDb");
    expect(t.description).toBe("x\uFFFDy");
    expect(t.inputSchema).toEqual({ type: "object", properties: { "k\u0000": { description: "v\uFFFD" } } });
  });

  it("rejects nameless tools, refuses over-deep schemas, drops __proto__ keys", () => {
    expect(normalizeTool({ description: "no name" })).toBeUndefined();
    let deep: Record<string, unknown> = {};
    const root = deep;
    for (let i = 0; i < 80; i++) deep = (deep.a = {}) as Record<string, unknown>;
    // only that tool is left out, saying why
    expect(normalizeTool({ name: "deep", inputSchema: root })).toEqual({
      refused: { name: "deep", reason: "its definition is nested more than 64 levels deep" },
    });
    const parsed = JSON.parse('{"name":"p","inputSchema":{"__proto__":{"polluted":true},"ok":1}}');
    expect(Object.keys(tool(parsed).inputSchema)).toEqual(["ok"]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe("x-mcp-header declarations (2026-07-28)", () => {
  const schema = (properties: Record<string, unknown>) => ({ type: "object", properties });
  it("refuses a tool with invalid declarations only where the revision applies", () => {
    const raw = { name: "t", inputSchema: schema({ n: { type: "number", "x-mcp-header": "N" } }) };
    expect(normalizeTool(raw, { headers: true })).toMatchObject({
      refused: { name: "t", kind: "protocol", reason: expect.stringContaining("of type number") },
    });
    expect(normalizeTool(raw)).toMatchObject({ name: "t" });
  });

  it("accepts string, integer and boolean properties reached through properties, unique ignoring case", () => {
    const ok = schema({
      a: { type: "string", "x-mcp-header": "A" },
      b: { type: "object", properties: { c: { type: "boolean", "x-mcp-header": "C-2" } } },
      d: { type: "integer", "x-mcp-header": "d.x" },
    });
    expect(xMcpHeaderProblem(ok as never)).toBeUndefined();
    expect(normalizeTool({ name: "ok", inputSchema: ok }, { headers: true })).toMatchObject({ name: "ok" });
  });

  it("names the fault", () => {
    const p = (properties: Record<string, unknown>) => xMcpHeaderProblem(schema(properties) as never);
    expect(p({ a: { type: "string", "x-mcp-header": 5 } })).toContain("empty or not a string");
    expect(p({ a: { type: "string", "x-mcp-header": "a:b" } })).toContain("not a valid header name");
    expect(p({ a: { type: ["string", "null"], "x-mcp-header": "A" } })).toContain('type ["string","null"]');
    expect(p({ a: { anyOf: [{ type: "string", "x-mcp-header": "A" }] } })).toContain('"properties" alone');
    expect(
      p({ a: { type: "string", "x-mcp-header": "Id" }, b: { type: "string", "x-mcp-header": "ID" } }),
    ).toContain('repeats "Id"');
    expect(xMcpHeaderProblem({ type: "object", "x-mcp-header": "Root" } as never)).toContain("schema root");
  });

  it("refuses an input schema of another type than object", () => {
    expect(normalizeTool({ name: "s", inputSchema: { type: "string" } })).toMatchObject({
      refused: { kind: "protocol" },
    });
  });
});
