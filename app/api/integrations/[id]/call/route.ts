// The playground's streamed tool call: NDJSON lines, `{"type":"progress",…}` while the server reports progress,
// then one `{"type":"result",…}` or `{"type":"error",…}`. Closing the request aborts the call, so the engine
// sends notifications/cancelled. Session cookie + same origin (lib/http.ts).
import { z } from "zod";
import { callIntegrationTool, listTools } from "@/lib/data/integrations";
import { isAppError } from "@/lib/errors";
import { parseBody, withUser } from "@/lib/http";
import { checkJsonSchema } from "@/lib/mcp/json-schema";

const bodySchema = z.object({
  tool: z.string().min(1).max(256),
  arguments: z.record(z.string(), z.unknown()).default({}),
  timeoutMs: z.number().int().positive().max(300_000).optional(),
});

export const POST = withUser(async ({ user, req, params }) => {
  const body = await parseBody(req, bodySchema);
  // Owner-scoped before anything streams: a foreign id answers 404.
  const tool = (await listTools(user, params.id)).find((t) => t.name === body.tool);
  const enc = new TextEncoder();
  const stream = new ReadableStream<Uint8Array>({
    async start(ctl) {
      const send = (o: object) => {
        try {
          ctl.enqueue(enc.encode(JSON.stringify(o) + "\n"));
        } catch {} // the reader has gone
      };
      try {
        const out = await callIntegrationTool(
          user,
          params.id,
          body.tool,
          { arguments: body.arguments, timeoutMs: body.timeoutMs },
          "playground",
          { signal: req.signal, onprogress: (p) => send({ type: "progress", ...p }) },
        );
        const structured = out.result.structuredContent;
        const outputCheck =
          tool?.outputSchema && !out.result.isError
            ? structured === undefined
              ? { status: "invalid", issues: [{ path: "", message: "has no structuredContent" }] }
              : await checkJsonSchema(tool.outputSchema, structured)
            : undefined;
        send({ type: "result", result: out.result, latencyMs: out.latencyMs, outputCheck });
      } catch (e) {
        send({
          type: "error",
          code: isAppError(e) ? e.code : "internal",
          message: isAppError(e) ? e.message : "Something went wrong. Please try again.",
        });
      } finally {
        try {
          ctl.close();
        } catch {}
      }
    },
  });
  return new Response(stream, {
    headers: { "Content-Type": "application/x-ndjson; charset=utf-8", "Cache-Control": "no-store" },
  });
});
