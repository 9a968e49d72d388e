import Link from "next/link";
import type { SessionUser } from "@/lib/data/users";
import { AppNav } from "@/components/app-nav";

export function AppShell({ user, children }: { user: SessionUser; children: React.ReactNode }) {
  const links = [
    { href: "/integrations", label: "Integrations" },
    { href: "/toolsets", label: "Toolsets" },
    { href: "/activity", label: "Activity" },
    { href: "/settings", label: "Settings" },
    ...(user.role === "admin"
      ? [
          { href: "/kitchen", label: "Kitchen" },
          { href: "/admin", label: "Admin" },
        ]
      : []),
  ];
  return (
    <div className="min-h-screen">
      <a
        href="#main"
        className="sr-only rounded-md bg-white px-3 py-2 text-sm font-medium text-zinc-900 shadow focus:not-sr-only focus:absolute focus:top-2 focus:left-2 focus:z-50"
      >
        Skip to content
      </a>
      <header className="border-b border-zinc-200 bg-white">
        <div className="mx-auto flex max-w-6xl flex-wrap items-center gap-x-6 gap-y-2 px-4 py-3 sm:px-6">
          <Link href="/integrations" className="text-lg font-bold tracking-tight">
            Poke
          </Link>
          <AppNav links={links} email={user.email} admin={user.role === "admin"} />
        </div>
      </header>
      <main id="main" tabIndex={-1} className="mx-auto max-w-6xl px-4 py-8 outline-none sm:px-6">
        {children}
      </main>
    </div>
  );
}
