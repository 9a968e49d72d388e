"use client";

export default function ErrorPage({ reset }: { error: Error; reset: () => void }) {
  return (
    <main className="mx-auto max-w-md px-6 py-24 text-center">
      <h1 className="text-2xl font-semibold">Something went wrong</h1>
      <p className="mt-2 text-zinc-600">Please try again. If it keeps happening, check the server log.</p>
      <button onClick={reset} className="mt-6 rounded-md bg-zinc-900 px-4 py-2 text-sm text-white">
        Try again
      </button>
    </main>
  );
}
