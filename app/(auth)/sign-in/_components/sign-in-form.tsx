"use client";
import { signIn } from "next-auth/react";
import { useState } from "react";
import { Alert, Button, Input } from "@/components/ui";
import { signInErrorMessage } from "@/lib/auth/sign-in-errors";

export function SignInForm({
  returnTo,
  providers,
  initialError,
}: {
  returnTo: string;
  providers: { id: string; name: string }[];
  initialError?: string;
}) {
  const [error, setError] = useState(initialError);
  const [pending, setPending] = useState(false);

  async function onSubmit(e: React.FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    setPending(true);
    setError(undefined);
    const res = await signIn("credentials", {
      email: String(form.get("email")),
      password: String(form.get("password")),
      redirect: false,
    });
    if (res?.ok && !res.error) {
      window.location.assign(returnTo);
      return;
    }
    setPending(false);
    setError(signInErrorMessage(res?.error ?? ""));
  }

  return (
    <div className="space-y-4 rounded-lg border border-zinc-200 bg-white p-6 shadow-sm">
      <h1 className="text-lg font-semibold">Sign in</h1>
      {error && <Alert>{error}</Alert>}
      <form onSubmit={onSubmit} className="space-y-4">
        <Input label="Email" name="email" type="email" autoComplete="email" required />
        <Input label="Password" name="password" type="password" autoComplete="current-password" required />
        <Button type="submit" className="w-full" disabled={pending}>
          {pending ? "Signing in…" : "Sign in"}
        </Button>
      </form>
      {providers.length > 0 && (
        <div className="space-y-2 border-t border-zinc-100 pt-4">
          {providers.map((p) => (
            <Button
              key={p.id}
              variant="secondary"
              className="w-full"
              onClick={() => signIn(p.id, { callbackUrl: returnTo })}
            >
              Continue with {p.name}
            </Button>
          ))}
        </div>
      )}
    </div>
  );
}
