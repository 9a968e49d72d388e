import type { Metadata } from "next";
import "./globals.css";

export const metadata: Metadata = {
  title: { default: "Poke", template: "%s · Poke" },
  description: "Connect MCP servers as integrations and use them from any agent.",
};

export default function RootLayout({ children }: { children: React.ReactNode }) {
  return (
    <html lang="en">
      <body className="min-h-screen font-sans">{children}</body>
    </html>
  );
}
