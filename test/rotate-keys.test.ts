// Key rotation against a real database (PGlite, or PostgreSQL with TEST_DB=postgres).
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { promisify } from "node:util";
import { Prisma, type PrismaClient } from "@prisma/client";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { aad, ENCRYPTED_COLUMNS, decryptField, encryptField, encryptJson, keyIdOf } from "@/lib/crypto";
import { closeDb, getDb } from "@/lib/db";
import { env, setEnvForProcess } from "@/lib/env";
import { rotateKeys } from "@/scripts/rotate-keys";

const keyA = `kA:${randomBytes(32).toString("base64")}`;
const keyB = `kB:${randomBytes(32).toString("base64")}`;
const originalKeys = env().ENCRYPTION_KEYS;
const setKeys = (keys: string) => setEnvForProcess({ ENCRYPTION_KEYS: keys });
const newId = () => `r${randomBytes(8).toString("hex")}`;

type Seeded = { model: string; column: string; id: string; plaintext: string };

/** One row per encrypted column (several integrations, to span batches), all encrypted under key A. */
async function seed(db: PrismaClient): Promise<Seeded[]> {
  setKeys(keyA);
  const out: Seeded[] = [];
  const enc = (model: string, column: string, id: string, plaintext: string) => {
    out.push({ model, column, id, plaintext });
    return encryptField(plaintext, { table: model, column, id });
  };
  const user = await db.user.create({ data: { email: `u${newId()}@example.com` } });
  const integrations: string[] = [];
  for (let i = 0; i < 5; i++) {
    const id = newId();
    integrations.push(id);
    await db.integration.create({
      data: {
        id,
        userId: user.id,
        name: `i${id}`,
        url: "https://mcp.example.com/mcp",
        apiKeyEnc: enc("Integration", "apiKeyEnc", id, `api-key-${i} ✓`),
      },
    });
  }
  // a row without a secret is not counted
  await db.integration.create({
    data: { userId: user.id, name: `none${newId()}`, url: "https://x.example/mcp" },
  });
  const [first] = integrations;
  const clientId = newId();
  await db.oAuthClient.create({
    data: {
      id: clientId,
      integrationId: first,
      issuer: "https://as.example.com",
      redirectUri: "http://localhost:3999/api/oauth/callback",
      clientId: "client-1",
      clientSecretEnc: enc("OAuthClient", "clientSecretEnc", clientId, "client-secret"),
      source: "dcr",
    },
  });
  const grantId = newId();
  const tokens = JSON.stringify({ access_token: "at-1", refresh_token: "rt-1", token_type: "Bearer" });
  out.push({ model: "OAuthGrant", column: "tokensEnc", id: grantId, plaintext: tokens });
  await db.oAuthGrant.create({
    data: {
      id: grantId,
      integrationId: first,
      issuer: "https://as.example.com",
      tokensEnc: encryptJson(JSON.parse(tokens), aad("OAuthGrant", "tokensEnc", grantId)),
    },
  });
  const pendingId = newId();
  await db.oAuthPending.create({
    data: {
      id: pendingId,
      stateHash: newId(),
      userId: user.id,
      integrationId: first,
      browserHash: newId(),
      verifierEnc: enc("OAuthPending", "verifierEnc", pendingId, "pkce-verifier"),
      expiresAt: new Date(Date.now() + 600_000),
    },
  });
  const templateId = newId();
  await db.template.create({
    data: {
      id: templateId,
      name: `t${templateId}`,
      slug: `t${templateId}`,
      serverUrl: "https://mcp.example.com/mcp",
      clientId: "tpl-client",
      clientSecretEnc: enc("Template", "clientSecretEnc", templateId, "template-secret"),
    },
  });
  const loginId = newId();
  await db.cliLogin.create({
    data: {
      id: loginId,
      codeHash: newId(),
      pollHash: newId(),
      userId: user.id,
      tokenEnc: enc("CliLogin", "tokenEnc", loginId, "poke_cli_token"),
      expiresAt: new Date(Date.now() + 600_000),
    },
  });
  return out;
}

async function stored(db: PrismaClient, s: Pick<Seeded, "model" | "column" | "id">): Promise<string> {
  const delegate = (
    db as unknown as Record<string, { findUnique(a: object): Promise<Record<string, string>> }>
  )[s.model[0].toLowerCase() + s.model.slice(1)];
  return (await delegate.findUnique({ where: { id: s.id } }))[s.column];
}

async function wipe(db: PrismaClient) {
  await db.template.deleteMany();
  await db.user.deleteMany(); // cascades to integrations, grants, clients, pending, CLI logins
}

let db: PrismaClient;
beforeEach(async () => {
  db = await getDb();
  await wipe(db);
});
afterAll(() => setKeys(originalKeys));

describe("rotateKeys", () => {
  it("lists every encrypted column of the schema", () => {
    const inSchema = Prisma.dmmf.datamodel.models.flatMap((m) =>
      m.fields.filter((f) => f.name.endsWith("Enc")).map((f) => `${m.name}.${f.name}`),
    );
    expect(ENCRYPTED_COLUMNS.map((c) => `${c.model}.${c.column}`).sort()).toEqual(inSchema.sort());
  });

  it("re-encrypts everything under the new key, keeps plaintexts, and is idempotent", async () => {
    const rows = await seed(db);
    setKeys(`${keyB},${keyA}`);

    // --check before rotating: everything is pending under kA, nothing is written
    const before = await rotateKeys(db, { check: true });
    expect(before.totals).toMatchObject({ scanned: rows.length, pending: rows.length, reencrypted: 0 });
    expect(before.columns.find((c) => c.model === "Integration")?.pendingByKey).toEqual({ kA: 5 });
    for (const r of rows) expect(keyIdOf(await stored(db, r))).toBe("kA");

    const lines: string[] = [];
    const run = await rotateKeys(db, { batchSize: 2, log: (l) => lines.push(l) });
    expect(run.keyId).toBe("kB");
    expect(run.totals).toMatchObject({
      scanned: rows.length,
      reencrypted: rows.length,
      skipped: 0,
      failed: 0,
    });
    expect(run.columns.map((c) => [`${c.model}.${c.column}`, c.reencrypted])).toEqual([
      ["Integration.apiKeyEnc", 5],
      ["OAuthClient.clientSecretEnc", 1],
      ["OAuthClient.privateKeyEnc", 0],
      ["OAuthGrant.tokensEnc", 1],
      ["OAuthPending.verifierEnc", 1],
      ["Template.clientSecretEnc", 1],
      ["Template.clientPrivateKeyEnc", 0],
      ["Account.idTokenEnc", 0],
      ["CliLogin.tokenEnc", 1],
    ]);
    for (const line of lines) for (const r of rows) expect(line).not.toContain(r.plaintext);

    // the old key can go: every value decrypts with kB alone, to what it was
    setKeys(keyB);
    for (const r of rows) {
      const value = await stored(db, r);
      expect(keyIdOf(value)).toBe("kB");
      expect(decryptField(value, { table: r.model, column: r.column, id: r.id })).toBe(r.plaintext);
    }

    const again = await rotateKeys(db);
    expect(again.totals).toMatchObject({ scanned: rows.length, reencrypted: 0, skipped: rows.length });
    const check = await rotateKeys(db, { check: true });
    expect(check.totals).toMatchObject({ pending: 0, failed: 0 });
  });

  it("never overwrites a value the app changed between read and write", async () => {
    const rows = await seed(db);
    const target = rows.find((r) => r.model === "Integration")!;
    const ad = aad("Integration", "apiKeyEnc", target.id);
    setKeys(`${keyB},${keyA}`);

    // The app writes a new API key right after rotation read the row: once by an instance already on kB,
    // once by one still encrypting with kA (not yet restarted).
    const appWrites = [
      () => encryptField("edited by app (new key)", ad),
      () => {
        setKeys(keyA);
        const v = encryptField("edited by app (old key)", ad);
        setKeys(`${keyB},${keyA}`);
        return v;
      },
    ];
    for (const write of appWrites) {
      await db.integration.update({
        where: { id: target.id },
        data: { apiKeyEnc: encryptField("reset", ad) },
      });
      setKeys(keyA);
      await db.integration.update({
        where: { id: target.id },
        data: { apiKeyEnc: encryptField("stale", ad) },
      });
      setKeys(`${keyB},${keyA}`);

      let raced = false;
      const racing = withUpdateHook(db, "integration", async (args) => {
        if (!raced && (args as { where: { id: string } }).where.id === target.id) {
          raced = true;
          const written = write();
          await db.integration.update({ where: { id: target.id }, data: { apiKeyEnc: written } });
        }
      });
      const report = await rotateKeys(racing);
      const integration = report.columns.find((c) => c.model === "Integration")!;
      expect(integration.conflicts).toBe(1);
      expect(integration.pending).toBe(0);
      const value = await stored(db, target);
      expect(keyIdOf(value)).toBe("kB");
      expect(decryptField(value, ad)).toMatch(/^edited by app/);
    }
  });

  it("leaves a value that keeps changing for the next run and reports it", async () => {
    const rows = await seed(db);
    const target = rows.find((r) => r.model === "Template")!;
    const ad = aad("Template", "clientSecretEnc", target.id);
    setKeys(`${keyB},${keyA}`);
    let n = 0;
    const racing = withUpdateHook(db, "template", async () => {
      setKeys(keyA);
      const v = encryptField(`app write ${++n}`, ad);
      setKeys(`${keyB},${keyA}`);
      await db.template.update({ where: { id: target.id }, data: { clientSecretEnc: v } });
    });
    const report = await rotateKeys(racing);
    expect(report.columns.find((c) => c.model === "Template")).toMatchObject({ conflicts: 3, pending: 1 });
    expect(report.totals.pending).toBe(1);
    expect(decryptField(await stored(db, target), ad)).toBe("app write 3");
    expect((await rotateKeys(db)).totals).toMatchObject({ reencrypted: 1, pending: 0 });
  });

  it("reports unreadable values without changing them or printing them", async () => {
    const rows = await seed(db);
    const target = rows.find((r) => r.model === "CliLogin")!;
    const foreign = `kZ:${randomBytes(32).toString("base64")}`;
    setKeys(foreign);
    const unknownKey = encryptField("lost secret", aad("CliLogin", "tokenEnc", target.id));
    await db.cliLogin.update({ where: { id: target.id }, data: { tokenEnc: unknownKey } });
    setKeys(`${keyB},${keyA}`);

    const lines: string[] = [];
    const report = await rotateKeys(db, { log: (l) => lines.push(l) });
    expect(report.totals).toMatchObject({ failed: 1, reencrypted: rows.length - 1 });
    expect(await stored(db, target)).toBe(unknownKey);
    const problem = lines.find((l) => l.includes(target.id))!;
    expect(problem).toMatch(/CliLogin\.tokenEnc .*Unknown encryption key id "kZ"/);
    expect(lines.join("\n")).not.toContain(unknownKey);
    expect(lines.join("\n")).not.toContain("lost secret");
  });
});

describe("npm run keys:rotate", () => {
  const script = path.resolve("scripts/rotate-keys.ts");
  const tsx = path.resolve("node_modules/.bin/tsx");
  async function cli(args: string[]) {
    try {
      const { stdout, stderr } = await promisify(execFile)(tsx, [script, ...args]);
      return { code: 0, out: stdout + stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, out: e.stdout + e.stderr };
    }
  }

  it("rotates, then --check passes; --check fails while values are under an old key", async () => {
    const rows = await seed(db);
    setKeys(`${keyB},${keyA}`);
    if (!env().DATABASE_URL) {
      // This test process holds the embedded database open, as a running app would.
      const busy = await cli(["--check"]);
      expect(busy.code).toBe(2);
      expect(busy.out).toMatch(/is in use .*stop the app/);
      await closeDb();
    }

    const check = await cli(["--check"]);
    expect(check.code).toBe(1);
    expect(check.out).toContain(`${rows.length} value(s) are still under old keys`);

    const run = await cli([]);
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/Integration\.apiKeyEnc\s+scanned 5, re-encrypted 5, skipped 0/);
    expect(run.out).toContain(`Done: ${rows.length} re-encrypted`);
    for (const r of rows) expect(run.out).not.toContain(r.plaintext);

    const after = await cli(["--check"]);
    expect(after.code).toBe(0);
    expect(after.out).toContain(`All ${rows.length} value(s) are under "kB"`);

    db = await getDb();
    for (const r of rows) expect(keyIdOf(await stored(db, r))).toBe("kB");
  });

  it("rejects an invalid key configuration with one line and no key material", async () => {
    const secret = randomBytes(16).toString("base64");
    setKeys(`kB:${secret}`);
    const res = await cli(["--check"]);
    setKeys(`${keyB},${keyA}`);
    expect(res.code).toBe(2);
    expect(res.out).toMatch(/keys:rotate: ENCRYPTION_KEYS entry #1 \("kB"\): key must be exactly 32 bytes/);
    expect(res.out).not.toContain(secret);
  });
});

/** `db` whose `model` delegate runs `before` ahead of each updateMany: the app writing concurrently. */
function withUpdateHook(
  db: PrismaClient,
  model: string,
  before: (args: object) => Promise<void>,
): PrismaClient {
  const real = (
    db as unknown as Record<string, { findMany(a: object): unknown; updateMany(a: object): unknown }>
  )[model];
  const hooked = {
    findMany: (a: object) => real.findMany(a),
    updateMany: async (a: object) => {
      await before(a);
      return real.updateMany(a);
    },
  };
  return new Proxy(db, {
    get: (target, prop, recv) => (prop === model ? hooked : Reflect.get(target, prop, recv)),
  });
}
