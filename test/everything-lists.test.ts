// Resources, resource templates and prompts of a real third-party server (server-everything, which offers all
// three): synced, listed, read and got through the engine, on PGlite and PostgreSQL.
import { afterAll, beforeAll, expect, it } from "vitest";
import { getDb } from "@/lib/db";
import {
  getIntegrationPrompt,
  listPrompts,
  listResources,
  listResourceTemplates,
  readIntegrationResource,
} from "@/lib/data/resources";
import { closeAll } from "@/lib/mcp/pool";
import { syncIntegration } from "@/lib/mcp/sync";
import { startEverything, type Everything } from "./fixtures/everything";

let everything: Everything;
let url: string;

beforeAll(async () => {
  everything = await startEverything();
  url = everything.url;
});
afterAll(async () => {
  await closeAll();
  everything?.close();
});

it("syncs server-everything's resources, templates and prompts; reads one and gets one", async () => {
  const db = await getDb();
  const user = await db.user.create({ data: { email: `everything-lists-${Date.now()}@example.com` } });
  const id = (
    await db.integration.create({ data: { userId: user.id, name: "everything", url, authKind: "none" } })
  ).id;
  const diff = await syncIntegration(user.id, id);
  expect(diff.resources?.count).toBeGreaterThan(0);
  expect(diff.resources?.added).toHaveLength(diff.resources!.count);
  expect(diff.resourceTemplates?.count).toBeGreaterThan(0);
  expect(diff.prompts?.count).toBeGreaterThan(0);
  const owner = { id: user.id };
  const resources = await listResources(owner, id);
  expect(resources).toHaveLength(diff.resources!.count);
  expect(await listResourceTemplates(owner, id)).toHaveLength(diff.resourceTemplates!.count);
  const prompts = await listPrompts(owner, id);

  const read = await readIntegrationResource(owner, id, resources[0].uri);
  expect(read.contents[0]?.uri).toBe(resources[0].uri);

  const simple = prompts.find((p) => !p.arguments.some((a) => a.required));
  expect(simple, "a prompt without required arguments").toBeDefined();
  const got = await getIntegrationPrompt(owner, id, simple!.name, {});
  expect(got.messages.length).toBeGreaterThan(0);

  // Re-synced as it is: nothing added, removed or changed.
  const again = await syncIntegration(user.id, id);
  for (const kind of ["resources", "resourceTemplates", "prompts"] as const) {
    expect(again[kind], kind).toMatchObject({ added: [], removed: [], changed: [] });
  }
});
