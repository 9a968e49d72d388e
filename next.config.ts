import type { NextConfig } from "next";

const config: NextConfig = {
  poweredByHeader: false,
  // `npm test` type-checks the whole project (tsc --noEmit); the build need not repeat it.
  typescript: { ignoreBuildErrors: true },
  // Native/wasm-backed packages load their own files at run time: keep them out of the bundle.
  serverExternalPackages: ["@electric-sql/pglite", "pglite-prisma-adapter", "pg", "ws", "@prisma/client"],
  // Metadata is resolved before the first byte for every client, so pages that 404 (unknown or foreign ids)
  // answer with a 404 status instead of a streamed not-found page.
  htmlLimitedBots: /.*/,
  // Nothing here is meant to be framed (OAuth starts and recipe installs especially: docs/security.md §5).
  // Pages get their Content-Security-Policy, with a per-request script nonce, from proxy.ts; API answers
  // and build assets get this static one, which allows no script at all.
  async headers() {
    return [
      {
        source: "/:path*",
        headers: [
          { key: "X-Frame-Options", value: "DENY" },
          { key: "X-Content-Type-Options", value: "nosniff" },
          { key: "Referrer-Policy", value: "same-origin" },
        ],
      },
      ...["/api/:path*", "/_next/:path*"].map((source) => ({
        source,
        headers: [
          {
            key: "Content-Security-Policy",
            value: "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
          },
        ],
      })),
    ];
  },
  experimental: { serverActions: { bodySizeLimit: "1mb" } },
};

export default config;
