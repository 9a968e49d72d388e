// The launcher's failure modes: each stops start-up with one clear line and a non-zero exit.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";

function start(env: Record<string, string>) {
  const r = spawnSync(process.execPath, ["--import", "tsx", "server.ts", "--no-build"], {
    env: { NODE_ENV: "development", PATH: process.env.PATH ?? "", HOME: os.tmpdir(), PORT: "0", ...env },
    encoding: "utf8",
    // Only a launcher that hangs runs into this; loading it on a busy machine can take a minute.
    timeout: 120_000,
  });
  const lines = r.stderr.trim().split("\n").filter(Boolean);
  return { status: r.status, lines, stdout: r.stdout };
}

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "poke-start-"));

describe("start-up", () => {
  it("production with DATABASE_URL refuses to start without explicit secrets and names them", () => {
    const r = start({
      NODE_ENV: "production",
      DATABASE_URL: "postgresql://postgres@127.0.0.1:5432/test",
      DATA_DIR: tmp(),
    });
    expect(r.status).toBe(1);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(/SESSION_SECRET and ENCRYPTION_KEYS/);
  });

  it("a wrong DATABASE_URL fails with one clear line", () => {
    const r = start({
      DATABASE_URL: "postgresql://postgres@127.0.0.1:1/nowhere",
      SESSION_SECRET: "x".repeat(40),
      ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 1).toString("base64")}`,
      DATA_DIR: tmp(),
    });
    expect(r.status).toBe(1);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(/^poke: cannot open the PostgreSQL database in DATABASE_URL: /);
  });

  it("a DATABASE_URL that is not a PostgreSQL URL is named", () => {
    const r = start({ DATABASE_URL: "mysql://x", DATA_DIR: tmp() });
    expect(r.status).toBe(1);
    expect(r.lines).toEqual([expect.stringMatching(/DATABASE_URL must be a postgresql:\/\/ URL/)]);
  });

  it("an unwritable data directory fails with one clear line", () => {
    const parent = tmp();
    const file = path.join(parent, "not-a-dir");
    fs.writeFileSync(file, "");
    const r = start({ DATA_DIR: path.join(file, "data") });
    expect(r.status).toBe(1);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(/Data directory .* is not writable/);
  });

  it("generates local secrets once, mode 0600, and reuses them", () => {
    const dir = tmp();
    // An unreachable database stops the launcher right after it prepared the secrets.
    const r1 = start({ DATA_DIR: dir, DATABASE_URL: "postgresql://postgres@127.0.0.1:1/x" });
    expect(r1.stdout).toMatch(/generated SESSION_SECRET and ENCRYPTION_KEYS into .*secrets\.json/);
    const file = path.join(dir, "secrets.json");
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const first = fs.readFileSync(file, "utf8");
    const r2 = start({ DATA_DIR: dir, DATABASE_URL: "postgresql://postgres@127.0.0.1:1/x" });
    expect(r2.stdout).not.toMatch(/generated/);
    expect(fs.readFileSync(file, "utf8")).toBe(first);
  });
});
