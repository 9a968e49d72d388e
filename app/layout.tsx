import type { Metadata } from "next";
import { connection } from "next/server";
import "./globals.css";

export const metadata: Metadata = {
  title: { default: "Poke", template: "%s · Poke" },
  description: "Connect MCP servers as integrations and use them from any agent.",
};

// Every page is rendered per request: its scripts carry that request's CSP nonce (proxy.ts), which a page
// prerendered at build time could not.
export default async function RootLayout({ children }: { children: React.ReactNode }) {
  await connection();
  return (
    <html lang="en">
      <body className="min-h-screen font-sans">{children}</body>
    </html>
  );
}
