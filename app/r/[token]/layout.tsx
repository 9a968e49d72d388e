// The recipe link lives outside the (app) group: it must render for visitors who are not signed in.
// Framing is refused for every page by next.config.ts headers (docs/security.md §5).
import { AppShell } from "@/components/app-shell";
import { currentUser } from "@/lib/auth/session";

export const dynamic = "force-dynamic";

export default async function RecipeLinkLayout({ children }: { children: React.ReactNode }) {
  const user = await currentUser();
  if (user) return <AppShell user={user}>{children}</AppShell>;
  return (
    <div className="min-h-screen">
      <header className="border-b border-zinc-200 bg-white">
        <div className="mx-auto flex max-w-6xl items-center px-4 py-3 sm:px-6">
          <span className="text-lg font-bold tracking-tight">Poke</span>
        </div>
      </header>
      <main id="main" className="mx-auto max-w-3xl px-4 py-8 sm:px-6">
        {children}
      </main>
    </div>
  );
}
