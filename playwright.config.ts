// e2e: a production build of the app, started by the test setup on a free port with its own database,
// driven through Debian's Chromium. E2E_DB=postgres runs the same specs on PostgreSQL.
import { defineConfig } from "@playwright/test";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

// Chosen once in the main process; workers inherit the environment.
if (!process.env.E2E_PORT) {
  process.env.E2E_PORT = execFileSync(process.execPath, [
    "-e",
    "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})",
  ])
    .toString()
    .trim();
  process.env.E2E_DATA_DIR = fs.mkdtempSync(path.join(os.tmpdir(), "poke-e2e-"));
}
const port = Number(process.env.E2E_PORT);
const baseURL = `http://localhost:${port}`;
const pgUrl = process.env.E2E_DB === "postgres" ? (process.env.E2E_DATABASE_URL ?? "") : "";

export default defineConfig({
  testDir: "e2e",
  // Traces of failed tests; other files under test-results/ (the walkthrough's screenshots) outlive a run.
  outputDir: "test-results/playwright",
  fullyParallel: false,
  workers: 1,
  retries: 0,
  // Sized to catch a hang on a machine busy with other work, never to bound how fast a page is.
  timeout: 180_000,
  expect: { timeout: 30_000 },
  reporter: [["list"]],
  use: {
    baseURL,
    trace: "retain-on-failure",
    launchOptions: {
      executablePath: "/usr/bin/chromium",
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    },
  },
  webServer: {
    command: "node --import tsx server.ts --no-build",
    url: `${baseURL}/api/health`,
    timeout: 300_000,
    reuseExistingServer: false,
    stdout: "pipe",
    stderr: "pipe",
    env: {
      PORT: String(port),
      HOST: "127.0.0.1",
      APP_URL: baseURL,
      DATA_DIR: process.env.E2E_DATA_DIR!,
      ALLOW_PRIVATE_NETWORK: "1",
      ADMIN_EMAILS: "admin@e2e.test",
      NODE_ENV: "production",
      // Production on PostgreSQL takes no generated secrets: the run supplies its own.
      ...(pgUrl
        ? {
            DATABASE_URL: pgUrl,
            SESSION_SECRET: "e2e-session-secret-0123456789abcdef0123",
            ENCRYPTION_KEYS: `e2e1:${Buffer.alloc(32, 9).toString("base64")}`,
          }
        : {}),
    },
  },
});
