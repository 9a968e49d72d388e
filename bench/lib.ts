// Shared benchmark plumbing: statistics, a throwaway database configured through lib/env, the fixture
// host process, and a direct SDK v2 client (the baseline every ratio is measured against).
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { generateEncryptionKey, setEnvForProcess } from "@/lib/env";

export const ROOT = path.resolve(import.meta.dirname, "..");

// ---------------------------------------------------------------------------------------------------------
// Statistics

/** Nearest-rank percentile of an unsorted sample (ms). */
export function percentile(sample: number[], p: number): number {
  if (!sample.length) return NaN;
  const sorted = [...sample].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

export const median = (sample: number[]) => percentile(sample, 50);

export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}

export const fmt = (ms: number, digits = 2) => (Number.isFinite(ms) ? ms.toFixed(digits) : "n/a");

// ---------------------------------------------------------------------------------------------------------
// Configuration and database

/** Secrets shared by the bench process and the app it starts (the app must decrypt what we seed). */
export const BENCH_SECRETS = {
  SESSION_SECRET: randomBytes(32).toString("base64url"),
  ENCRYPTION_KEYS: generateEncryptionKey(),
};

export function benchEnv(dataDir: string): Record<string, string | undefined> {
  return {
    ...BENCH_SECRETS,
    DATA_DIR: dataDir,
    DATABASE_URL: undefined,
    // Fixture servers are on loopback.
    ALLOW_PRIVATE_NETWORK: "1",
    LOG_LEVEL: "warn",
  };
}

/** The machine's PostgreSQL, where `--postgres` creates (and afterwards drops) a scratch database. */
export const BENCH_PG_ADMIN = process.env.BENCH_PG_URL ?? "postgresql://postgres@127.0.0.1:5432/test";
const scratch = new Map<string, string>(); // data dir → PostgreSQL database the bench created for it

/**
 * A fresh, migrated database configured for this process: a PGlite data directory (DATA_DIR), or with
 * `postgres` a new database on BENCH_PG_ADMIN's server (DATABASE_URL). Returns the data directory.
 */
export async function freshDatabase(label: string, opts: { postgres?: boolean } = {}): Promise<string> {
  const { closeDb } = await import("@/lib/db");
  await closeDb();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `poke-bench-${label}-`));
  let databaseUrl: string | undefined;
  if (opts.postgres) {
    const name = `poke_bench_${label.replace(/\W/g, "")}_${randomBytes(4).toString("hex")}`;
    await adminQuery(`CREATE DATABASE ${name}`);
    scratch.set(dir, name);
    const url = new URL(BENCH_PG_ADMIN);
    url.pathname = `/${name}`;
    databaseUrl = url.href;
  }
  setEnvForProcess({ NODE_ENV: "test", ...benchEnv(dir), DATABASE_URL: databaseUrl });
  const { migrate, openRunner } = await import("@/lib/migrate");
  const runner = await openRunner(databaseUrl ? { databaseUrl } : { pgliteDir: path.join(dir, "pglite") });
  try {
    await migrate(runner);
  } finally {
    await runner.close();
  }
  return dir;
}

async function adminQuery(sql: string): Promise<void> {
  const { default: pg } = await import("pg");
  const admin = new pg.Client({ connectionString: BENCH_PG_ADMIN });
  await admin.connect();
  try {
    await admin.query(sql);
  } finally {
    await admin.end();
  }
}

export async function removeDatabase(dir: string): Promise<void> {
  // Tool-call history is written in background batches: into this database, not the next one.
  const { historySettled } = await import("@/lib/data/history");
  await historySettled();
  const { closeDb } = await import("@/lib/db");
  await closeDb();
  fs.rmSync(dir, { recursive: true, force: true });
  const name = scratch.get(dir);
  if (name) {
    scratch.delete(dir);
    await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }
}

let seq = 0;
export async function createUser(): Promise<{ id: string; email: string; name: null; role: "user" }> {
  const { getDb } = await import("@/lib/db");
  const db = await getDb();
  const u = await db.user.create({ data: { email: `bench-${Date.now()}-${++seq}@example.test` } });
  return { id: u.id, email: u.email, name: null, role: "user" };
}

/** An integration row as the API would create it, not yet synced. */
export async function createIntegrationRow(userId: string, url: string): Promise<string> {
  const { getDb } = await import("@/lib/db");
  const db = await getDb();
  const row = await db.integration.create({
    data: { userId, name: `bench-${++seq}`, url, authKind: "none" },
  });
  return row.id;
}

// ---------------------------------------------------------------------------------------------------------
// Processes

export type Child = { proc: ChildProcess; stop(): Promise<void> };

function stopper(proc: ChildProcess): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
      const kill = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      proc.once("exit", () => {
        clearTimeout(kill);
        resolve();
      });
      proc.kill("SIGTERM");
    });
}

/**
 * Starts bench/fixture-host.ts and waits for its URLs. `processes` spreads the servers over that many
 * host processes (one event loop each); `rttMs` puts a modelled network round trip in front of each server.
 */
export async function startFixtures(opts: {
  count?: number;
  tools?: "basic" | number;
  mode?: "modern" | "sessionful";
  processes?: number;
  rttMs?: number;
}): Promise<Child & { urls: string[] }> {
  const count = opts.count ?? 1;
  const processes = Math.max(1, Math.min(opts.processes ?? 1, count));
  const hosts = await Promise.all(
    Array.from({ length: processes }, (_, i) =>
      startFixtureHost({
        ...opts,
        count: Math.floor(count / processes) + (i < count % processes ? 1 : 0),
      }),
    ),
  );
  // Interleaved, so any prefix of the list spreads over every process.
  const urls: string[] = [];
  for (let i = 0; urls.length < count; i++) for (const h of hosts) if (h.urls[i]) urls.push(h.urls[i]);
  return {
    proc: hosts[0].proc,
    urls,
    stop: async () => {
      await Promise.all(hosts.map((h) => h.stop()));
    },
  };
}

async function startFixtureHost(opts: {
  count: number;
  tools?: "basic" | number;
  mode?: "modern" | "sessionful";
  rttMs?: number;
}): Promise<Child & { urls: string[] }> {
  const args = ["--import", "tsx", path.join(ROOT, "bench/fixture-host.ts")];
  args.push("--count", String(opts.count), "--tools", String(opts.tools ?? "basic"));
  args.push("--mode", opts.mode ?? "modern", "--rtt-ms", String(opts.rttMs ?? 0));
  const proc = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
  const line = await new Promise<string>((resolve, reject) => {
    const rl = readline.createInterface({ input: proc.stdout! });
    rl.once("line", (l) => {
      rl.close();
      resolve(l);
    });
    proc.once("exit", (code) => reject(new Error(`fixture host exited with ${code}`)));
  });
  const { urls } = JSON.parse(line) as { urls: string[] };
  return { proc, urls, stop: stopper(proc) };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export { stopper };

// ---------------------------------------------------------------------------------------------------------
// The baseline: a plain SDK v2 client, as any MCP host would write it.

export async function directClient(url: string): Promise<Client> {
  const client = new Client(
    { name: "bench-direct", version: "1.0.0" },
    { versionNegotiation: { mode: "auto" } },
  );
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  return client;
}

/** connect + every page of tools/list + close; returns the tool count. */
export async function directDiscovery(url: string): Promise<number> {
  const client = await directClient(url);
  try {
    let n = 0;
    let cursor: string | undefined;
    do {
      const page = await client.listTools(cursor === undefined ? {} : { cursor });
      n += page.tools.length;
      cursor = page.nextCursor;
    } while (cursor);
    return n;
  } finally {
    await client.close();
  }
}
