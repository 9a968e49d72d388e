// `npm run keys:rotate [-- --check] [-- --batch-size N]` — re-encrypt every secret at rest under the
// current (first) key of ENCRYPTION_KEYS. Never prints secrets: only model/column names, row ids, counts.
//
// Rotating the encryption key, without downtime:
//   1. Generate a key:
//        node -e "console.log('k2:'+require('crypto').randomBytes(32).toString('base64'))"
//   2. Prepend it to ENCRYPTION_KEYS, keeping the old keys after it (they still decrypt), e.g.
//        ENCRYPTION_KEYS="k2:NEW…,k1:OLD…"
//      and restart (or roll) every app instance so they all encrypt with the new key.
//      Local installs without ENCRYPTION_KEYS in the environment keep it in DATA_DIR/secrets.json.
//   3. npm run keys:rotate
//        With PostgreSQL (DATABASE_URL) this runs while the app is up: rows are rewritten in batches and
//        each update only applies if the row still holds the value that was read, so a concurrent write
//        by the app is never overwritten. With the embedded database (PGlite, the default) stop the app
//        first: PGlite can only be opened by one process at a time.
//   4. npm run keys:rotate -- --check
//        Exits 1 and lists the counts if any value is still under an old key (run step 3 again).
//   5. Drop the old key from ENCRYPTION_KEYS and restart (or roll) the app.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { PrismaClient } from "@prisma/client";
import {
  aad,
  CryptoError,
  ENCRYPTED_COLUMNS,
  currentKeyId,
  keyIdOf,
  reencryptField,
  type EncryptedColumn,
} from "@/lib/crypto";
import { closeDb, getDb, pgliteDir } from "@/lib/db";
import { ConfigError, env, prepareLocalSecrets } from "@/lib/env";

export type RotateOptions = {
  /** Only count values not under the current key; write nothing. */
  check?: boolean;
  batchSize?: number;
  /** Receives one line per column and per unreadable value (default: silent). */
  log?: (line: string) => void;
};

export type ColumnReport = {
  model: string;
  column: string;
  /** Non-null values looked at. */
  scanned: number;
  reencrypted: number;
  /** Already under the current key. */
  skipped: number;
  /** Not under the current key (in --check mode nothing is rewritten, so these remain). */
  pending: number;
  /** Pending values by the key id they are under. */
  pendingByKey: Record<string, number>;
  /** Rows the app changed between our read and our write; they were re-read and retried. */
  conflicts: number;
  /** Values that could not be read (malformed, unknown key, failed authentication). */
  failed: number;
};

export type RotateReport = {
  keyId: string;
  check: boolean;
  columns: ColumnReport[];
  totals: Omit<ColumnReport, "model" | "column" | "pendingByKey">;
};

type Row = { id: string } & Record<string, unknown>;
// The slice of a Prisma model delegate this script uses; models are picked by name from ENCRYPTED_COLUMNS.
type Delegate = {
  findMany(args: object): Promise<Row[]>;
  updateMany(args: object): Promise<{ count: number }>;
};

// A row that keeps changing under us is left for the next run rather than retried forever.
const MAX_ATTEMPTS = 3;

function delegateFor(db: PrismaClient, model: string): Delegate {
  const delegate = (db as unknown as Record<string, Delegate | undefined>)[
    model[0].toLowerCase() + model.slice(1)
  ];
  if (!delegate?.findMany) throw new Error(`ENCRYPTED_COLUMNS names an unknown model "${model}"`);
  return delegate;
}

async function rotateColumn(
  db: PrismaClient,
  { model, column }: EncryptedColumn,
  opts: Required<Omit<RotateOptions, "log">> & { log: (line: string) => void },
): Promise<ColumnReport> {
  const table = delegateFor(db, model);
  const current = currentKeyId();
  const report: ColumnReport = {
    model,
    column,
    scanned: 0,
    reencrypted: 0,
    skipped: 0,
    pending: 0,
    pendingByKey: {},
    conflicts: 0,
    failed: 0,
  };
  const select = { id: true, [column]: true };

  /** Returns false when the row changed concurrently (compare-and-set missed). */
  async function visit(id: string, value: string, final: boolean): Promise<boolean> {
    let keyId: string;
    let next: string;
    try {
      keyId = keyIdOf(value);
      if (keyId === current) {
        report.skipped++;
        return true;
      }
      if (opts.check) {
        report.pending++;
        report.pendingByKey[keyId] = (report.pendingByKey[keyId] ?? 0) + 1;
        return true;
      }
      next = reencryptField(value, aad(model, column, id));
    } catch (err) {
      if (!(err instanceof CryptoError)) throw err;
      report.failed++;
      opts.log(`  ${model}.${column} id=${id}: ${err.message}`);
      return true;
    }
    // Compare-and-set: only replace the exact ciphertext we decrypted, so a value the app wrote
    // meanwhile (new tokens after a refresh, an edited API key) is never clobbered.
    const { count } = await table.updateMany({ where: { id, [column]: value }, data: { [column]: next } });
    if (count === 1) {
      report.reencrypted++;
      return true;
    }
    report.conflicts++;
    if (final) {
      report.pending++;
      report.pendingByKey[keyId] = (report.pendingByKey[keyId] ?? 0) + 1;
    }
    return false;
  }

  let after: string | undefined;
  for (;;) {
    // Keyset pagination by id: stable while rows are inserted or deleted concurrently.
    const rows = await table.findMany({
      where: after === undefined ? {} : { id: { gt: after } },
      select,
      orderBy: { id: "asc" },
      take: opts.batchSize,
    });
    if (!rows.length) break;
    after = rows[rows.length - 1].id;

    let changed: string[] = [];
    for (const row of rows) {
      const value = row[column];
      if (typeof value !== "string") continue;
      report.scanned++;
      if (!(await visit(row.id, value, false))) changed.push(row.id);
    }
    // Re-read rows the app changed under us; a deleted row simply disappears from the retry.
    for (let attempt = 2; changed.length && attempt <= MAX_ATTEMPTS; attempt++) {
      const again = await table.findMany({ where: { id: { in: changed } }, select });
      changed = [];
      for (const row of again) {
        const value = row[column];
        if (typeof value !== "string") continue;
        if (!(await visit(row.id, value, attempt === MAX_ATTEMPTS))) changed.push(row.id);
      }
    }
    if (rows.length < opts.batchSize) break;
  }
  return report;
}

/**
 * Re-encrypts every value of ENCRYPTED_COLUMNS under the current key (or, with `check`, only counts the
 * values that are not). Safe to run while the app writes: every update is a compare-and-set.
 */
export async function rotateKeys(db: PrismaClient, opts: RotateOptions = {}): Promise<RotateReport> {
  const options = {
    check: opts.check ?? false,
    batchSize: opts.batchSize ?? 200,
    log: opts.log ?? (() => {}),
  };
  if (!Number.isInteger(options.batchSize) || options.batchSize < 1) throw new Error("batchSize must be ≥ 1");
  const keyId = currentKeyId();
  const columns: ColumnReport[] = [];
  for (const col of ENCRYPTED_COLUMNS) {
    const r = await rotateColumn(db, col, options);
    columns.push(r);
    const byKey = Object.entries(r.pendingByKey)
      .map(([k, n]) => `${k}: ${n}`)
      .join(", ");
    options.log(
      `${`${col.model}.${col.column}`.padEnd(28)} scanned ${r.scanned}, ` +
        (options.check
          ? `under current key ${r.skipped}, under old keys ${r.pending}${byKey ? ` (${byKey})` : ""}`
          : `re-encrypted ${r.reencrypted}, skipped ${r.skipped}`) +
        (r.conflicts ? `, changed concurrently ${r.conflicts}` : "") +
        (r.failed ? `, unreadable ${r.failed}` : ""),
    );
  }
  const totals = { scanned: 0, reencrypted: 0, skipped: 0, pending: 0, conflicts: 0, failed: 0 };
  for (const c of columns) for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += c[k];
  return { keyId, check: options.check, columns, totals };
}

// ---------------------------------------------------------------------------------------------------------
// Command line

/** Pids of other processes with files open under `dir` (Linux /proc; elsewhere we cannot tell). */
function processesUsing(dir: string): number[] {
  const pids: number[] = [];
  let entries: string[];
  try {
    entries = fs.readdirSync("/proc").filter((e) => /^\d+$/.test(e) && Number(e) !== process.pid);
  } catch {
    return pids;
  }
  for (const pid of entries) {
    try {
      const fds = fs.readdirSync(`/proc/${pid}/fd`);
      if (fds.some((fd) => safeReadlink(`/proc/${pid}/fd/${fd}`).startsWith(dir + path.sep))) {
        pids.push(Number(pid));
      }
    } catch {
      // another user's process or one that just exited
    }
  }
  return pids;
}

function safeReadlink(p: string): string {
  try {
    return fs.readlinkSync(p);
  } catch {
    return "";
  }
}

class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        check: { type: "boolean", default: false },
        "batch-size": { type: "string", default: "200" },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) {
    console.log(
      "Usage: npm run keys:rotate [-- --check] [-- --batch-size N]\n" +
        "Re-encrypts every stored secret under the first key of ENCRYPTION_KEYS.\n" +
        "  --check        only report values not under the current key (exit 1 if any)\n" +
        "  --batch-size   rows read per query (default 200)",
    );
    return 0;
  }
  const batchSize = Number(values["batch-size"]);
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new UsageError("--batch-size must be a positive integer");

  // Same secret sources as the app: environment first, then DATA_DIR/secrets.json for local installs.
  prepareLocalSecrets();
  const config = env();
  const keyId = currentKeyId();

  if (!config.DATABASE_URL) {
    const dir = pgliteDir();
    if (!fs.existsSync(path.join(dir, "PG_VERSION"))) {
      throw new UsageError(`No database in ${dir}: nothing to rotate (check DATA_DIR, or set DATABASE_URL).`);
    }
    // PGlite has no lock of its own: a second process opening the directory would corrupt it.
    const users = processesUsing(dir);
    if (users.length) {
      throw new UsageError(
        `The embedded database ${dir} is in use (process ${users.join(", ")}, probably the app). ` +
          "PGlite is single-process: stop the app, run this again, then start the app.",
      );
    }
  }

  let db: PrismaClient;
  try {
    db = await getDb();
  } catch (err) {
    throw new UsageError(
      config.DATABASE_URL
        ? `Cannot connect to DATABASE_URL: ${(err as Error).message}`
        : `Cannot open the embedded database in ${pgliteDir()} (is the app running? stop it first): ${(err as Error).message}`,
    );
  }
  try {
    console.log(
      values.check
        ? `Checking stored secrets against the current key "${keyId}"…`
        : `Re-encrypting stored secrets under the current key "${keyId}" (batches of ${batchSize})…`,
    );
    const report = await rotateKeys(db, { check: values.check, batchSize, log: (l) => console.log(l) });
    const t = report.totals;
    if (values.check) {
      console.log(
        t.pending
          ? `${t.pending} value(s) are still under old keys: run \`npm run keys:rotate\` again before dropping a key.`
          : `All ${t.scanned} value(s) are under "${keyId}": old keys can be removed from ENCRYPTION_KEYS.`,
      );
    } else {
      console.log(
        `Done: ${t.reencrypted} re-encrypted, ${t.skipped} already under "${keyId}"` +
          (t.pending ? `, ${t.pending} changed concurrently and left for another run` : "") +
          ".",
      );
    }
    if (t.failed) {
      console.log(
        `${t.failed} value(s) could not be decrypted with any configured key (listed above); ` +
          "they are left unchanged. Do not drop old keys until they are resolved.",
      );
    }
    return t.failed || t.pending ? 1 : 0;
  } catch (err) {
    if ((err as { code?: string }).code === "P2021") {
      throw new UsageError("The database is not migrated yet: start the app once (it applies migrations).");
    }
    throw err;
  } finally {
    await closeDb();
  }
}

const invokedDirectly = !!process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      // Known errors are one readable line; anything else gets its message only (no stack, no values).
      const known = err instanceof UsageError || err instanceof ConfigError || err instanceof CryptoError;
      console.error(
        `keys:rotate: ${known ? (err as Error).message : `failed: ${(err as Error)?.message ?? err}`}`,
      );
      process.exit(known ? 2 : 1);
    },
  );
}
