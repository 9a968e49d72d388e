// Prisma CLI configuration: the JavaScript schema engine with driver adapters, so no binary is downloaded.
// Migrations are generated against a throwaway in-memory PGlite (or DATABASE_URL when set).
import { defineConfig } from "prisma/config";

export default defineConfig({
  schema: "prisma/schema.prisma",
  experimental: { adapter: true },
  engine: "js",
  async adapter() {
    if (process.env.DATABASE_URL) {
      const { PrismaPg } = await import("@prisma/adapter-pg");
      return new PrismaPg({ connectionString: process.env.DATABASE_URL });
    }
    const { PGlite } = await import("@electric-sql/pglite");
    const { PrismaPGlite } = await import("pglite-prisma-adapter");
    // typed against an older driver-adapter-utils; structurally the same at run time
    return new PrismaPGlite(new PGlite()) as unknown as InstanceType<
      typeof import("@prisma/adapter-pg").PrismaPg
    >;
  },
});
