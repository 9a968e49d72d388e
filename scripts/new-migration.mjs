#!/usr/bin/env node
// `npm run db:migration <name>`: writes prisma/migrations/<timestamp>_<name>/migration.sql with the SQL from
// the schema as of the last migration (its schema.prisma snapshot) to the current prisma/schema.prisma.
// A datamodel-to-datamodel diff needs no database.
// Every migration folder carries its snapshot; a folder without one is an error, never skipped.
// `--check` writes nothing: exit 0 when schema.prisma matches the last migration, else 1 with the SQL.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

const check = process.argv[2] === "--check";
const name = (process.argv[2] ?? "").replace(/[^a-z0-9_]/gi, "_").toLowerCase();
if (!name) {
  console.error("usage: npm run db:migration <name> | --check");
  process.exit(2);
}
const root = path.join("prisma", "migrations");
const folders = fs
  .readdirSync(root, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();
const missing = folders.filter((d) => !fs.existsSync(path.join(root, d, "schema.prisma")));
if (missing.length) {
  console.error(`no schema.prisma snapshot in ${missing.map((d) => path.join(root, d)).join(", ")}`);
  process.exit(2);
}
const last = folders.at(-1);
const from = last ? ["--from-schema-datamodel", path.join(root, last, "schema.prisma")] : ["--from-empty"];
const sql = execFileSync(
  "node_modules/.bin/prisma",
  ["migrate", "diff", ...from, "--to-schema-datamodel", "prisma/schema.prisma", "--script"],
  { encoding: "utf8" },
);
const body = sql
  .split("\n")
  .filter((l) => l !== 'CREATE SCHEMA IF NOT EXISTS "public";' && l !== "-- CreateSchema")
  .join("\n")
  .trim();
if (!body || body.startsWith("-- This is an empty migration")) {
  console.log("schema.prisma matches the last migration: nothing to write");
  process.exit(0);
}
if (check) {
  console.log(
    `schema.prisma differs from the last migration (${last ?? "none"}); a migration would add:\n${body}`,
  );
  process.exit(1);
}
const stamp = new Date().toISOString().replace(/\D/g, "").slice(0, 14);
const dir = path.join(root, `${stamp}_${name}`);
fs.mkdirSync(dir, { recursive: true });
fs.writeFileSync(path.join(dir, "migration.sql"), body + "\n");
fs.copyFileSync("prisma/schema.prisma", path.join(dir, "schema.prisma"));
console.log(`wrote ${dir}/migration.sql`);
