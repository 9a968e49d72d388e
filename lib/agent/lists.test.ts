import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { slugify } from "@/lib/agent/catalog";
import { normalizeEntry } from "@/lib/mcp/discover";
import { unwrapUri, wrapUri } from "@/lib/agent/lists";

describe("agent resource URIs", () => {
  it("poke://<slug>/<uri> gives back the slug and the URI, whatever the URI holds", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), (name, uri) => {
        const slug = slugify(name);
        expect(unwrapUri(wrapUri(slug, uri))).toEqual({ slug, uri });
      }),
    );
  });

  it("anything else is not one", () => {
    for (const uri of ["file:///a", "poke://", "poke:///x", "poke://docs", "poke://docs/", "POKE://docs/x"]) {
      expect(unwrapUri(uri)).toBeUndefined();
    }
  });
});

describe("list entries", () => {
  it("normalizes like tools: text capped, keys the database can't store refused, unusable entries skipped", () => {
    expect(
      normalizeEntry("resources", { uri: "file:///a", name: "a", size: 12, mimeType: "text/plain" }),
    ).toMatchObject({ uri: "file:///a", name: "a", size: 12, mimeType: "text/plain", title: null });
    expect(normalizeEntry("resources", { uri: "file:///a", name: "a", size: -1 })).toMatchObject({
      size: null,
    });
    expect(normalizeEntry("resources", { name: "no uri" })).toBeUndefined();
    // The key is indexed: its UTF-8 length counts.
    expect(normalizeEntry("resources", { uri: "名".repeat(700), name: "long" })).toMatchObject({
      refused: { reason: "its uri is longer than 2048 bytes" },
    });
    expect(normalizeEntry("resources", { uri: "名".repeat(682), name: "fits" })).toMatchObject({
      name: "fits",
    });
    expect(normalizeEntry("prompts", { name: "a\0b" })).toMatchObject({ refused: { reason: /NUL/ } });
    expect(normalizeEntry("resourceTemplates", { uriTemplate: "\uD800", name: "t" })).toMatchObject({
      refused: { reason: /Unicode/ },
    });
    const p = normalizeEntry("prompts", {
      name: "p",
      arguments: [{ name: "topic", required: true }, { nope: 1 }, "x"],
      __proto__: { polluted: true },
    });
    expect(p).toMatchObject({ arguments: [{ name: "topic", required: true }] });
    // The hash follows every field.
    const h = (d: object) => (normalizeEntry("prompts", d) as { definitionHash: string }).definitionHash;
    expect(h({ name: "p" })).toBe(h({ name: "p" }));
    expect(h({ name: "p" })).not.toBe(h({ name: "p", description: "d" }));
  });
});
