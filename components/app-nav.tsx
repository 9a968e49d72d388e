"use client";
import Link from "next/link";
import { usePathname } from "next/navigation";
import { useState } from "react";
import { SignOutButton } from "@/components/sign-out-button";

export type NavLink = { href: string; label: string };

function isCurrent(pathname: string, href: string) {
  return pathname === href || pathname.startsWith(`${href}/`);
}

/**
 * The header's navigation: inline on wide screens; on phones a "Menu" disclosure that opens a panel with
 * the links, the signed-in email and Sign out (the panel pushes the page down, nothing overlaps).
 */
export function AppNav({ links, email, admin }: { links: NavLink[]; email: string; admin: boolean }) {
  const pathname = usePathname() ?? "";
  const [open, setOpen] = useState(false);
  const linkClass = (href: string) =>
    `rounded-md px-2 py-1 text-sm hover:bg-zinc-100 ${
      isCurrent(pathname, href) ? "bg-zinc-100 font-medium text-zinc-900" : "text-zinc-700"
    }`;
  const user = (
    <>
      <span data-testid="current-user" className="min-w-0 break-all">
        {email}
      </span>
      {admin && <span className="rounded bg-indigo-100 px-1.5 py-0.5 text-xs text-indigo-800">admin</span>}
      <SignOutButton />
    </>
  );
  const navLinks = (onClick?: () => void) =>
    links.map((l) => (
      <Link
        key={l.href}
        href={l.href}
        aria-current={isCurrent(pathname, l.href) ? "page" : undefined}
        className={linkClass(l.href)}
        onClick={onClick}
      >
        {l.label}
      </Link>
    ));
  return (
    <>
      <nav className="hidden flex-wrap gap-1 sm:flex" aria-label="Main">
        {navLinks()}
      </nav>
      <div className="ml-auto hidden min-w-0 items-center gap-3 text-sm text-zinc-600 sm:flex">{user}</div>
      <button
        type="button"
        className="ml-auto rounded-md border border-zinc-300 px-3 py-1.5 text-sm text-zinc-800 hover:bg-zinc-100 sm:hidden"
        aria-expanded={open}
        aria-controls={open ? "mobile-menu" : undefined}
        onClick={() => setOpen((o) => !o)}
      >
        Menu
      </button>
      {open && (
        <div id="mobile-menu" className="w-full border-t border-zinc-200 pt-2 sm:hidden">
          <nav className="flex flex-col gap-1" aria-label="Main (menu)">
            {navLinks(() => setOpen(false))}
          </nav>
          <div className="mt-2 flex min-w-0 flex-wrap items-center gap-3 border-t border-zinc-200 pt-2 text-sm text-zinc-600">
            {user}
          </div>
        </div>
      )}
    </>
  );
}
