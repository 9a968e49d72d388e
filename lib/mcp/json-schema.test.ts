import { Client } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { describe, expect, it } from "vitest";
import {
  checkJsonSchema,
  describeIssues,
  SCHEMA_LIMITS,
  setSchemaCompileBudget,
  validateJsonSchema,
} from "@/lib/mcp/json-schema";
import { heavySchema } from "../../test/fixtures/heavy-schema";

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

const paths = async (v: unknown, s: unknown = form) => (await validateJsonSchema(s, v)).map((i) => i.path);

describe("validateJsonSchema", () => {
  it("accepts valid arguments", async () => {
    expect(
      await validateJsonSchema(form, {
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
  it("reports each violation with its path", async () => {
    expect(await paths({})).toEqual(["name"]);
    expect(await paths({ name: "a" })).toEqual(["name"]);
    expect(await paths({ name: "abcdef" })).toEqual(["name"]);
    expect(await paths({ name: "ab", count: 1.5 })).toEqual(["count"]);
    expect(await paths({ name: "ab", count: 11 })).toEqual(["count"]);
    expect(await paths({ name: "ab", ratio: 1 })).toEqual(["ratio"]);
    expect(await paths({ name: "ab", mode: "c" })).toEqual(["mode"]);
    expect(await paths({ name: "ab", tags: ["x", 2, "z"] })).toEqual(["tags", "tags[1]"]);
    expect(await paths({ name: "ab", nested: { extra: 1 } })).toEqual(["nested.ok", "nested.extra"]);
    expect(await paths({ name: "ab", maybe: 3 })).toEqual(["maybe"]);
    expect(await paths({ name: "ab", ref: -1 })).toEqual(["ref"]);
    expect(await paths("not an object")).toEqual(["(root)"]);
  });
  it("reads well", async () => {
    const msg = describeIssues(await validateJsonSchema(form, { count: "3" }));
    expect(msg).toBe("name is required; count must be integer (got string)");
  });
  it("ignores unknown keywords and survives hostile schemas", async () => {
    expect(await validateJsonSchema({ type: "object", "x-custom": 1 }, {})).toEqual([]);
    expect(await validateJsonSchema({ $ref: "#" }, {})).toEqual(expect.any(Array)); // self-reference terminates
    // A catastrophic pattern for a backtracking engine runs in linear time here, and is still checked.
    expect(await validateJsonSchema({ type: "string", pattern: "(a+)+$" }, "a".repeat(50_000) + "!")).toEqual(
      [{ path: "(root)", message: 'must match the pattern "(a+)+$"' }],
    );
    expect(await validateJsonSchema({ type: "string", pattern: "(a+)+$" }, "a".repeat(50_000))).toEqual([]);
  });
});

const issues = (schema: unknown, value: unknown) => validateJsonSchema(schema, value);
const said = async (schema: unknown, value: unknown) =>
  describeIssues(await validateJsonSchema(schema, value), 50);

describe("JSON Schema 2020-12 keywords", () => {
  it("follows $ref into $defs, also recursively", async () => {
    const tree = {
      $defs: {
        node: {
          type: "object",
          properties: {
            value: { type: "integer" },
            children: { type: "array", items: { $ref: "#/$defs/node" } },
          },
          required: ["value"],
        },
      },
      $ref: "#/$defs/node",
    };
    expect(await issues(tree, { value: 1, children: [{ value: 2, children: [{ value: 3 }] }] })).toEqual([]);
    expect(await said(tree, { value: 1, children: [{ value: 2, children: [{ value: "x" }, {}] }] })).toBe(
      "children[0].children[0].value must be integer (got string); children[0].children[1].value is required",
    );
  });

  it("anyOf, oneOf and allOf as shapes", async () => {
    const s = {
      type: "object",
      properties: {
        id: { anyOf: [{ type: "string" }, { type: "integer" }] },
        target: {
          oneOf: [
            {
              type: "object",
              properties: { kind: { const: "user" }, name: { type: "string" } },
              required: ["kind", "name"],
            },
            {
              type: "object",
              properties: { kind: { const: "team" }, slug: { type: "string" } },
              required: ["kind", "slug"],
            },
          ],
        },
        both: { allOf: [{ type: "string" }, { minLength: 3 }] },
      },
    };
    expect(await issues(s, { id: 3, target: { kind: "team", slug: "x" }, both: "abc" })).toEqual([]);
    expect(await said(s, { id: true })).toBe("id must be string or integer (got boolean)");
    expect(await said(s, { target: { kind: "robot" } })).toBe(
      "target must match exactly one allowed shape (it matches none)",
    );
    // The discriminator picks the branch: its own errors are reported.
    expect(await said(s, { target: { kind: "team", slug: 5 } })).toBe(
      "target.slug must be string (got integer)",
    );
    expect(await said(s, { target: { kind: "user" } })).toBe("target.name is required");
    const loose = { oneOf: [{ type: "number" }, { type: "integer" }] };
    expect(await said(loose, 3)).toBe(
      "(root) must match exactly one allowed shape (it matches shapes 1 and 2)",
    );
    expect(await said(s, { both: "ab" })).toBe("both must be at least 3 characters");
  });

  it("const, enum, nullable types and formats", async () => {
    const s = {
      type: "object",
      properties: {
        v: { const: 2 },
        mode: { enum: ["fast", "slow", null] },
        note: { type: ["string", "null"], maxLength: 3 },
        email: { type: "string", format: "email" },
        at: { type: "string", format: "date-time" },
      },
    };
    expect(
      await issues(s, { v: 2, mode: null, note: null, email: "a@b.co", at: "2026-01-02T03:04:05Z" }),
    ).toEqual([]);
    expect(await said(s, { v: 3, mode: "x", note: 5, email: "nope", at: "yesterday" })).toBe(
      'v must be 2; mode must be one of "fast", "slow", null; note must be string or null (got integer); email must be a valid email; at must be a valid date-time',
    );
  });

  it("if / then / else", async () => {
    const s = {
      type: "object",
      properties: { country: { type: "string" }, zip: { type: "string" }, postcode: { type: "string" } },
      if: { properties: { country: { const: "US" } }, required: ["country"] },
      then: { required: ["zip"] },
      else: { required: ["postcode"] },
    };
    expect(await issues(s, { country: "US", zip: "12345" })).toEqual([]);
    expect(await said(s, { country: "US" })).toBe("zip is required");
    expect(await said(s, { country: "FR" })).toBe("postcode is required");
  });

  it("tuples: prefixItems with items false, and draft-07 array items", async () => {
    const s = {
      type: "array",
      prefixItems: [{ type: "number" }, { type: "number" }],
      items: false,
      minItems: 2,
    };
    expect(await issues(s, [1, 2])).toEqual([]);
    expect(await said(s, [1, "2", 3])).toBe(
      "[1] must be number (got string); (root) must have at most 2 items",
    );
    expect(await said(s, [1])).toBe("(root) must have at least 2 items");
    const d7 = {
      $schema: "http://json-schema.org/draft-07/schema#",
      type: "array",
      items: [{ type: "string" }, { type: "integer" }],
      additionalItems: false,
    };
    expect(await issues(d7, ["a", 1])).toEqual([]);
    expect(await said(d7, ["a", 1, 2])).toBe("(root) must have at most 2 items");
  });

  it("additionalProperties, patternProperties and unevaluated keywords", async () => {
    const s = {
      type: "object",
      properties: { name: { type: "string" } },
      patternProperties: { "^x-": { type: "number" } },
      additionalProperties: false,
    };
    expect(await issues(s, { name: "a", "x-rate": 2 })).toEqual([]);
    expect(await said(s, { "x-rate": "fast", other: 1 })).toBe(
      "other is not an allowed property; x-rate must be number (got string)",
    );
    const composed = {
      allOf: [{ type: "object", properties: { a: { type: "string" } } }],
      properties: { b: { type: "integer" } },
      unevaluatedProperties: false,
    };
    expect(await issues(composed, { a: "x", b: 1 })).toEqual([]);
    expect(await said(composed, { a: "x", c: 1 })).toBe("c is not an allowed property");
    const list = { type: "array", prefixItems: [{ type: "string" }], unevaluatedItems: false };
    expect(await said(list, ["a", "b"])).toBe("(root) must have at most 1 item");
    expect(await said({ dependentRequired: { card: ["cvc"] } }, { card: "4242" })).toBe(
      "cvc is required when card is present",
    );
  });
});

// The conformance suite's schemas (@modelcontextprotocol/conformance 0.2.0-alpha.12, scenarios
// "json-schema-2020-12" and "json-schema-ref-no-deref"), copied as test data.
const conformanceTool = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  type: "object",
  $defs: {
    address: {
      $anchor: "addressDef",
      type: "object",
      properties: { street: { type: "string" }, city: { type: "string" } },
    },
  },
  properties: {
    name: { type: "string" },
    address: { $ref: "#/$defs/address" },
    contactMethod: { type: "string", enum: ["phone", "email"] },
    phone: { type: "string" },
    email: { type: "string" },
  },
  allOf: [{ anyOf: [{ required: ["phone"] }, { required: ["email"] }] }],
  if: { properties: { contactMethod: { const: "phone" } }, required: ["contactMethod"] },
  then: { required: ["phone"] },
  else: { required: ["email"] },
  additionalProperties: false,
};
const canary = "http://localhost:1/canary/profile-schema.json";
const lookupUser = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  type: "object",
  $defs: { userId: { type: "string", pattern: "^[a-z0-9-]+$" } },
  properties: { id: { $ref: "#/$defs/userId" }, profile: { $ref: canary } },
  required: ["id"],
};

describe("the conformance suite's schemas", () => {
  it("json_schema_2020_12_tool: $anchor, allOf/anyOf, if/then/else, additionalProperties", async () => {
    expect(await issues(conformanceTool, { name: "Ada", contactMethod: "phone", phone: "123" })).toEqual([]);
    expect(await issues(conformanceTool, { email: "a@b.c", address: { street: "Main", city: "X" } })).toEqual(
      [],
    );
    expect(await said(conformanceTool, { contactMethod: "phone", email: "a@b.c" })).toBe("phone is required");
    expect(await said(conformanceTool, { name: "Ada" })).toBe(
      "(root) does not match any allowed shape; email is required",
    );
    expect(await said(conformanceTool, { email: "e", address: { street: 1 }, extra: true })).toBe(
      "extra is not an allowed property; address.street must be string (got integer)",
    );
  });

  it("lookup_user: the local $ref is checked, the network $ref is never fetched and left to the server", async () => {
    const before = JSON.stringify(lookupUser);
    expect(await checkJsonSchema(lookupUser, { id: "ada-1", profile: { anything: [1] } })).toEqual({
      status: "valid",
    });
    expect(await said(lookupUser, { id: "Ada!" })).toBe('id must match the pattern "^[a-z0-9-]+$"');
    expect(await said(lookupUser, {})).toBe("id is required");
    expect(JSON.stringify(lookupUser)).toBe(before); // the declared schema is untouched, key order included
  });
});

describe("server-everything's tools, listed from the real server", () => {
  it("validates each tool's declared schema (draft-07)", async () => {
    const client = new Client({ name: "schema-test", version: "1.0.0" });
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: ["node_modules/@modelcontextprotocol/server-everything/dist/index.js", "stdio"],
        stderr: "ignore",
      }),
    );
    try {
      const { tools } = await client.listTools();
      const schema = (name: string) => {
        const t = tools.find((x) => x.name === name);
        expect(t, name).toBeDefined();
        return t!.inputSchema;
      };
      for (const t of tools) {
        const r = await checkJsonSchema(t.inputSchema, {});
        expect(r.status, `${t.name}: ${JSON.stringify(r)}`).not.toBe("unchecked");
      }
      expect(await issues(schema("get-sum"), { a: 1, b: 2.5 })).toEqual([]);
      expect(await said(schema("get-sum"), { a: "1" })).toBe("b is required; a must be number (got string)");
      expect(await said(schema("get-resource-links"), { count: 11 })).toBe("count must be ≤ 10");
      expect(await said(schema("get-annotated-message"), { messageType: "info" })).toBe(
        'messageType must be one of "error", "success", "debug"',
      );
      expect(await issues(schema("gzip-file-as-resource"), { data: "https://example.com/a.txt" })).toEqual(
        [],
      );
      expect(await said(schema("gzip-file-as-resource"), { data: "not a uri" })).toBe(
        "data must be a valid uri",
      );
      expect(await said(schema("echo"), {})).toBe("message is required");
    } finally {
      await client.close();
    }
  });
});

describe("hostile schemas fall back to the server as judge", () => {
  const unchecked = async (schema: unknown, value: unknown = {}) => {
    const r = await checkJsonSchema(schema, value);
    expect(r.status).toBe("unchecked");
    return r.status === "unchecked" ? r.reason : "";
  };

  it("a schema nested thousands of levels deep", async () => {
    let deep: Record<string, unknown> = { type: "string" };
    for (let i = 0; i < 5_000; i++) deep = { type: "object", properties: { a: deep } };
    expect(await unchecked(deep)).toMatch(/nested more than 64 levels/);
  });

  it("a 5 MB schema", async () => {
    const properties: Record<string, unknown> = {};
    for (let i = 0; i < 50_000; i++) properties[`p${i}`] = { type: "string", description: "x".repeat(80) };
    const huge = { type: "object", properties };
    expect(JSON.stringify(huge).length).toBeGreaterThan(5_000_000);
    expect(await unchecked(huge)).toMatch(/larger than/);
  });

  it("a schema with too many parts", async () => {
    const properties: Record<string, unknown> = {};
    for (let i = 0; i <= SCHEMA_LIMITS.maxSubschemas; i++) properties[`p${i}`] = {};
    expect(await unchecked({ type: "object", properties })).toMatch(/more than 2000 parts/);
  });

  it("patterns: catastrophic ones stay linear, unsupported ones are skipped", async () => {
    const s = {
      type: "object",
      properties: { a: { pattern: "^(a|aa)+$" }, b: { pattern: "^(?!admin).*$" } },
    };
    expect(await said(s, { a: "a".repeat(50_000) + "b", b: "admin" })).toBe(
      'a must match the pattern "^(a|aa)+$"',
    );
    const props = { type: "object", patternProperties: { "^(x+x+)+y$": { type: "integer" } } };
    expect(await said(props, { ["x".repeat(5_000) + "y"]: "s", ["x".repeat(5_000)]: "t" })).toMatch(
      /must be integer/,
    );
  });

  it("unknown dialects, invalid schemas and unresolvable local refs", async () => {
    expect(await unchecked({ $schema: "http://json-schema.org/draft-04/schema#", type: "object" })).toMatch(
      /dialect/,
    );
    expect(await unchecked({ type: "object", properties: { a: { type: 5 } } })).toMatch(
      /not valid JSON Schema/,
    );
    expect(await unchecked({ type: "object", properties: { a: { $ref: "#/$defs/missing" } } })).toMatch(
      /compiled/,
    );
    expect(await checkJsonSchema(null, {})).toMatchObject({ status: "unchecked" });
    expect(await checkJsonSchema(true, { any: 1 })).toEqual({ status: "valid" });
    expect(await checkJsonSchema(false, {})).toMatchObject({ status: "invalid" });
  });
});

describe("compiling is bounded in time, off the main thread", () => {
  // Inside the size caps, and a slow shape for Ajv to compile (tens of milliseconds).
  const heavy = (note: string) => ({ ...heavySchema(), description: note });

  it("a schema that does not compile within the budget is not validated here; other checks go on", async () => {
    const before = setSchemaCompileBudget(1);
    try {
      const order: string[] = [];
      const slow = checkJsonSchema(heavy("one"), { b: "x" }).then((r) => (order.push("heavy"), r));
      const quick = checkJsonSchema({ type: "object", required: ["q"] }, {}).then(
        (r) => (order.push("small"), r),
      );
      const [r, q] = await Promise.all([slow, quick]);
      expect(r).toEqual({ status: "unchecked", reason: "compiling the schema took longer than 1 ms" });
      expect(q).toMatchObject({ status: "invalid" });
      expect(order).toEqual(["small", "heavy"]); // the main thread was never held by the heavy compile
      // The verdict is kept for the definition: the next call doesn't compile again, and is not validated.
      expect(await checkJsonSchema(heavy("one"), { b: "x" }, undefined)).toMatchObject({
        status: "unchecked",
      });
      expect(await validateJsonSchema(heavy("one"), { b: "x" })).toEqual([]); // the call goes to the server
    } finally {
      setSchemaCompileBudget(before);
    }
  });

  it("within the budget the same shape is vetted, compiled and validated, cached by definition hash", async () => {
    const before = setSchemaCompileBudget(120_000);
    try {
      const schema = heavy("two");
      expect(await said(schema, { b: "x", extra: 1 })).toBe(
        "b must be integer (got string); extra is not an allowed property",
      );
      const r = await checkJsonSchema(structuredClone(schema), { b: 1 }, "def-hash-1");
      expect(r).toEqual({ status: "valid" });
      // Keyed by the definition hash, the validator is found without looking at the schema again.
      expect(await checkJsonSchema({ type: "object", required: ["zzz"] }, { b: 1 }, "def-hash-1")).toEqual({
        status: "valid",
      });
    } finally {
      setSchemaCompileBudget(before);
    }
  });
});
