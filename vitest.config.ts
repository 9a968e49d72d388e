import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const root = fileURLToPath(new URL(".", import.meta.url));
const alias = {
  "@": root,
  // `server-only` throws outside Next's react-server build; in tests it is a marker only.
  "server-only": fileURLToPath(new URL("./test/server-only-stub.ts", import.meta.url)),
};

// Timeouts only catch a test that hangs: they are sized for a machine whose cores are busy with other
// work (several times slower than a quiet one). No test bounds how fast something happens (bench/ does).
export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      {
        resolve: { alias },
        test: {
          name: "unit",
          include: ["lib/**/*.test.ts", "cli/**/*.test.ts"],
          environment: "node",
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        resolve: { alias },
        test: {
          name: "integration",
          include: ["test/**/*.test.ts"],
          environment: "node",
          globalSetup: ["test/global-setup.ts"],
          setupFiles: ["test/setup-db.ts"],
          testTimeout: 180_000,
          hookTimeout: 300_000,
          // Each file has its own database copy, fixture servers and app process on free ports: two at a time.
          maxWorkers: 2,
        },
      },
    ],
  },
});
