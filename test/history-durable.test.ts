// A call's history row is committed before its caller has the answer (docs/deploy.md): a process killed with
// SIGKILL the moment it answered loses no row. The calls run in a child process (the real call path against a
// fixture server) that is killed as soon as its first answer is out; every answer it gave has its row.
// PGlite is one process's database: the test process closes it while the child has it open, then reopens it
// to look (the same files the child wrote); PostgreSQL is shared and stays open.
import { spawn } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { closeDb, getDb } from "@/lib/db";
import { closeAll } from "@/lib/mcp/pool";
import { startMcpServer, type McpFixture } from "./fixtures/mcp-servers";
import { addIntegration, makeUserWithToken } from "./agent-helpers";

const ROOT = path.resolve(__dirname, "..");
let fixture: McpFixture;
beforeAll(async () => {
  fixture = await startMcpServer({ name: "durable" });
});
afterAll(async () => {
  await closeAll();
  await fixture.close();
});

it("every call a killed process answered has its history row", async () => {
  const { user } = await makeUserWithToken("durable");
  const integrationId = await addIntegration(user.id, "durable", fixture.url);
  const db = await getDb();
  await db.integration.update({ where: { id: integrationId }, data: { storePayloads: true } });
  const calls = 16; // within the default concurrency limit
  await closeAll();
  if (!process.env.DATABASE_URL) await closeDb(); // the child opens the PGlite files now

  // The server condition, as Next.js runs these modules: `server-only` imports are markers there.
  const child = spawn(
    process.execPath,
    ["--conditions=react-server", "--import", "tsx", "test/fixtures/history-child.ts"],
    {
      cwd: ROOT,
      env: { ...process.env, USER_ID: user.id, INTEGRATION_ID: integrationId, CALLS: String(calls) },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const answered: string[] = [];
  let buffered = "";
  child.stdout.on("data", (d: Buffer) => {
    buffered += d.toString();
    const lines = buffered.split("\n");
    buffered = lines.pop()!;
    for (const line of lines) {
      const m = /^answered (\S+)$/.exec(line);
      if (m) answered.push(m[1]);
    }
    if (answered.length) child.kill("SIGKILL"); // right after the first answer
  });
  const [code, signal] = (await once(child, "exit")) as [number | null, NodeJS.Signals | null];
  expect(answered.length, `child stderr:\n${stderr}`).toBeGreaterThan(0);
  expect(signal).toBe("SIGKILL");
  expect(code).toBeNull();

  const rows = await (
    await getDb()
  ).toolCall.findMany({
    where: { userId: user.id, integrationId },
    select: { arguments: true, status: true },
  });
  const recorded = new Set(rows.map((r) => (r.arguments as { text?: string } | null)?.text));
  for (const tag of answered) expect(recorded, `row of ${tag}`).toContain(tag);
  expect(rows.every((r) => r.status === "ok")).toBe(true);
});
