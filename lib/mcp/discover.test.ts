import { describe, expect, it } from "vitest";
import {
  definitionHash,
  definitionRecord,
  normalizeTool,
  RECORD_FIELDS,
  stableStringify,
} from "@/lib/mcp/discover";

// normalizeTool hashes sorted copies with JSON.stringify; stored hashes were made with stableStringify.
// They must agree, or every stored tool would be flagged "changed" at its next sync.
describe("definition hashes", () => {
  const shapes: Record<string, unknown>[] = [
    {
      name: "plain",
      inputSchema: { type: "object", properties: { b: { type: "string" }, a: { type: "integer" } } },
    },
    {
      name: "index-like keys",
      inputSchema: { type: "object", properties: { "10": { type: "string" }, "2": {}, x: { enum: [3, 1] } } },
    },
    {
      name: "unicode and escapes",
      description: 'é "q" \n',
      inputSchema: { properties: { ü: {}, Z: {}, a: {} } },
    },
    {
      name: "everything",
      title: "T",
      inputSchema: {
        type: "object",
        required: ["z", "a"],
        properties: { z: { items: [{ y: 1, x: [null, true] }] } },
      },
      outputSchema: { type: "object", properties: { "0": { const: -0 }, n: { const: 1.5e300 } } },
      annotations: { readOnlyHint: true, destructiveHint: false, title: "Annotated" },
    },
  ];
  it.each(shapes.map((s) => [s.name as string, s]))("%s: same hash as stableStringify", (_, raw) => {
    const t = normalizeTool(raw)!;
    const { definitionHash: hash, ...fields } = t;
    expect(hash).toBe(definitionHash(fields));
    // key order of the stored copy does not matter, its content does
    expect(stableStringify(fields.inputSchema)).toBe(stableStringify(raw.inputSchema));
    // The stored record: every field in RECORD_FIELDS order, absent ones as null.
    const stored = JSON.parse(JSON.stringify(t)) as Record<string, unknown>;
    expect(JSON.parse(definitionRecord(t))).toEqual(RECORD_FIELDS.map((f) => stored[f]));
  });
});
