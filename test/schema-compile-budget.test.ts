// A tool whose input schema takes too long to compile is not validated in Poke: the call is sent and the
// server judges the arguments. Within the budget the same shape is validated before anything is sent.
// The budget is set tiny here so the outcome never depends on the machine's speed.
import { afterAll, beforeAll, expect, it } from "vitest";
import { callTool, closeAll } from "@/lib/mcp/pool";
import { setSchemaCompileBudget } from "@/lib/mcp/json-schema";
import { startCatalogServer, type CatalogFixture } from "./fixtures/mcp-servers";
import { addIntegration, makeUserWithToken } from "./agent-helpers";
import { expectAppError } from "./app-error";
import { heavySchema } from "./fixtures/heavy-schema";

let server: CatalogFixture;
let ctx: { userId: string; integrationId: string };

beforeAll(async () => {
  server = await startCatalogServer({ name: "heavy-schemas" });
  server.setTools([
    { name: "over-budget", description: "Compiled past the budget.", inputSchema: heavySchema() as never },
    { name: "in-budget", description: "Compiled within the budget.", inputSchema: heavySchema() as never },
  ]);
  const { user } = await makeUserWithToken("schema-budget");
  ctx = { userId: user.id, integrationId: await addIntegration(user.id, "Heavy", server.url) };
});

afterAll(async () => {
  await closeAll();
  await server?.close();
});

it("past the compile budget the call is sent unvalidated, and the server is the judge", async () => {
  const before = setSchemaCompileBudget(1);
  try {
    const out = await callTool(ctx, "over-budget", { b: "not an integer" });
    expect(out.result.isError).toBeFalsy();
    expect(server.calls.filter((c) => c.name === "over-budget")).toHaveLength(1);
    // The verdict is kept for the definition: the next call is not compiled again, and goes through too.
    await callTool(ctx, "over-budget", { b: "still not" });
    expect(server.calls.filter((c) => c.name === "over-budget")).toHaveLength(2);
  } finally {
    setSchemaCompileBudget(before);
  }
});

it("within the budget the same shape is validated and an invalid call never leaves Poke", async () => {
  const before = setSchemaCompileBudget(120_000);
  try {
    const err = await expectAppError(callTool(ctx, "in-budget", { b: "x" }), "invalid_arguments");
    expect(err.message).toBe("Invalid arguments: b must be integer (got string)");
    expect(server.calls.filter((c) => c.name === "in-budget")).toEqual([]);
    await callTool(ctx, "in-budget", { b: 3 });
    expect(server.calls.filter((c) => c.name === "in-budget")).toHaveLength(1);
  } finally {
    setSchemaCompileBudget(before);
  }
});
