export default function AuthLayout({ children }: { children: React.ReactNode }) {
  return (
    <main id="main" className="flex min-h-screen items-center justify-center px-4">
      <div className="w-full max-w-sm">
        <div className="mb-8 text-center">
          <div className="text-3xl font-bold tracking-tight">Poke</div>
          <p className="mt-1 text-sm text-zinc-600">Your MCP integrations, in one place.</p>
        </div>
        {children}
      </div>
    </main>
  );
}
