import nextVitals from "eslint-config-next/core-web-vitals";
import nextTs from "eslint-config-next/typescript";

const config = [
  ...nextVitals,
  ...nextTs,
  {
    ignores: [
      ".next/**",
      "node_modules/**",
      "data/**",
      "scratch/**",
      "next-env.d.ts",
      "test-results/**",
      "playwright-report/**",
      "cli/dist*/**",
    ],
  },
  {
    rules: {
      "no-restricted-properties": [
        "error",
        { object: "process", property: "env", message: "Read configuration through lib/env.ts." },
      ],
    },
  },
  {
    files: [
      "lib/env.ts",
      "prisma.config.ts",
      "scripts/**",
      "test/**",
      "e2e/**",
      "bench/**",
      "playwright.config.ts",
      "cli/**",
    ],
    rules: { "no-restricted-properties": "off" },
  },
];
export default config;
