import { describe, expect, it } from "vitest";
import {
  formSupports,
  initialValue,
  joinPath,
  pickOption,
  resolveSchema,
  shapeOf,
} from "@/lib/mcp/schema-form";

// Shapes as servers declare them: pydantic-style $defs with allOf-wrapped $refs, zod-style nullable unions,
// and the conformance suite's json_schema_2020_12_tool (@modelcontextprotocol/conformance 0.2.0-alpha.12).
const root = {
  $defs: {
    address: {
      $anchor: "addressDef",
      type: "object",
      properties: { street: { type: "string" }, city: { type: "string" } },
      required: ["street", "city"],
    },
    kind: { enum: ["a", "b"] },
  },
  type: "object",
  properties: {
    address: { $ref: "#/$defs/address", description: "Where to send it" },
    wrapped: { allOf: [{ $ref: "#/$defs/kind" }], default: "b" },
    note: { type: ["string", "null"] },
    maybe: { anyOf: [{ type: "integer" }, { type: "null" }] },
    target: {
      oneOf: [
        { title: "User", type: "object", properties: { kind: { const: "user" }, name: { type: "string" } } },
        { type: "object", properties: { kind: { const: "team" }, slug: { type: "string" } } },
      ],
    },
    level: {
      oneOf: [
        { const: 1, title: "Low" },
        { const: 2, title: "High" },
      ],
    },
    point: { type: "array", prefixItems: [{ type: "number" }, { type: "number" }] },
    legacyPair: { type: "array", items: [{ type: "string" }, { type: "boolean" }] },
    version: { const: "v2" },
    labels: { type: "object", additionalProperties: { type: "string" } },
    either: { type: ["string", "integer"] },
    remote: { $ref: "https://example.com/schema.json" },
    loop: { $ref: "#/properties/loop" },
  },
  required: ["version"],
};
const prop = (k: string) => (root.properties as Record<string, Record<string, unknown>>)[k];
const kind = (k: string) => shapeOf(root, prop(k)).kind;

describe("schema-form shapes", () => {
  it("follows local $refs, keeping the field's own keywords, and folds a lone allOf", () => {
    expect(resolveSchema(root, prop("address"))).toMatchObject({
      type: "object",
      description: "Where to send it",
    });
    expect(shapeOf(root, prop("wrapped"))).toMatchObject({ kind: "enum", nullable: false });
  });

  it("draws each keyword it understands, and JSON for the rest", () => {
    expect(kind("address")).toBe("object");
    expect(shapeOf(root, prop("note"))).toMatchObject({ kind: "string", nullable: true });
    expect(shapeOf(root, prop("maybe"))).toMatchObject({ kind: "integer", nullable: true });
    const target = shapeOf(root, prop("target"));
    expect(target.kind === "choice" && target.options.map((o) => o.label)).toEqual(["User", 'kind: "team"']);
    const level = shapeOf(root, prop("level"));
    expect(level.kind === "enum" && level.options).toEqual([
      { value: 1, label: "Low" },
      { value: 2, label: "High" },
    ]);
    expect(kind("point")).toBe("tuple");
    expect(kind("legacyPair")).toBe("tuple");
    expect(shapeOf(root, prop("version"))).toMatchObject({ kind: "const", value: "v2" });
    expect(kind("labels")).toBe("json"); // a map: no fixed properties to draw
    expect(kind("either")).toBe("choice");
    expect(kind("remote")).toBe("json"); // never fetched
    expect(kind("loop")).toBe("json"); // a $ref to itself ends
    expect(formSupports(root)).toBe(true);
    expect(formSupports({ type: "object", properties: { a: { type: "string" } }, $ref: "https://x" })).toBe(
      false,
    );
  });

  it("starts with defaults and constants; an optional object starts absent", () => {
    expect(initialValue(root, root)).toEqual({ wrapped: "b", version: "v2" });
    expect(initialValue(root, prop("address"), true)).toEqual({});
    expect(initialValue(root, prop("point"), true)).toEqual([null, null]);
  });

  it("picks the option a value fits", () => {
    const target = shapeOf(root, prop("target"));
    if (target.kind !== "choice") throw new Error("not a choice");
    expect(pickOption(root, target.options, { kind: "team", slug: "x" })).toBe(1);
    expect(pickOption(root, target.options, undefined)).toBe(0);
    const either = shapeOf(root, prop("either"));
    if (either.kind !== "choice") throw new Error("not a choice");
    expect(pickOption(root, either.options, 3)).toBe(1);
  });

  it("writes paths as the validator does", () => {
    expect(joinPath(joinPath(joinPath("", "a"), 0), "b")).toBe("a[0].b");
    expect(joinPath("a", "x y")).toBe('a["x y"]');
  });
});
