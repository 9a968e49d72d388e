import Link from "next/link";
import type { SessionUser } from "@/lib/data/users";
import { SignOutButton } from "@/components/sign-out-button";

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
      <header className="border-b border-zinc-200 bg-white">
        <div className="mx-auto flex max-w-6xl flex-wrap items-center gap-x-6 gap-y-2 px-4 py-3 sm:px-6">
          <Link href="/integrations" className="text-lg font-bold tracking-tight">
            Poke
          </Link>
          <nav className="flex flex-wrap gap-1" aria-label="Main">
            {links.map((l) => (
              <Link
                key={l.href}
                href={l.href}
                className="rounded-md px-2 py-1 text-sm text-zinc-700 hover:bg-zinc-100"
              >
                {l.label}
              </Link>
            ))}
          </nav>
          <div className="ml-auto flex min-w-0 items-center gap-3 text-sm text-zinc-600">
            <span data-testid="current-user" className="min-w-0 truncate">
              {user.email}
            </span>
            {user.role === "admin" && (
              <span className="rounded bg-indigo-100 px-1.5 py-0.5 text-xs text-indigo-800">admin</span>
            )}
            <SignOutButton />
          </div>
        </div>
      </header>
      <main className="mx-auto max-w-6xl px-4 py-8 sm:px-6">{children}</main>
    </div>
  );
}
