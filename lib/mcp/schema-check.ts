// Checking a tool's arguments without calling it: the playground's live validation. The same check, with
// the same words, as the one a call goes through (lib/mcp/json-schema.ts).
import "server-only";
import { callableTool } from "@/lib/data/catalog";
import { notFound } from "@/lib/errors";
import { jsonProblem } from "@/lib/limits/json-shape";
import { checkJsonSchema, type SchemaCheck } from "@/lib/mcp/json-schema";

export async function checkToolArguments(
  userId: string,
  integrationId: string,
  name: string,
  args: Record<string, unknown>,
): Promise<SchemaCheck> {
  const tool = await callableTool({ userId, integrationId }, name);
  if (!tool) throw notFound(`This integration has no tool named "${name.slice(0, 128)}".`);
  const tooBig = jsonProblem(args);
  if (tooBig) return { status: "invalid", issues: [{ path: "(root)", message: tooBig.text }] };
  return checkJsonSchema(tool.inputSchema, args, tool.definitionHash);
}
