"use client";
import { signIn } from "next-auth/react";
import { useState } from "react";
import { Alert, Button, Input } from "@/components/ui";
import { signUpAction } from "../../actions";

export function SignUpForm({ returnTo }: { returnTo: string }) {
  const [error, setError] = useState<string>();
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [pending, setPending] = useState(false);

  async function onSubmit(e: React.FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const input = {
      name: String(form.get("name") ?? ""),
      email: String(form.get("email")),
      password: String(form.get("password")),
    };
    setPending(true);
    setError(undefined);
    setFieldErrors({});
    const res = await signUpAction(input);
    if (!res.ok) {
      setPending(false);
      setError(res.error);
      setFieldErrors(res.fieldErrors ?? {});
      return;
    }
    const login = await signIn("credentials", {
      email: input.email,
      password: input.password,
      redirect: false,
    });
    if (login?.ok && !login.error) window.location.assign(returnTo);
    else {
      setPending(false);
      setError("Your account was created, but signing in failed. Try signing in.");
    }
  }

  return (
    <div className="space-y-4 rounded-lg border border-zinc-200 bg-white p-6 shadow-sm">
      <h1 className="text-lg font-semibold">Create your account</h1>
      {error && <Alert>{error}</Alert>}
      <form onSubmit={onSubmit} className="space-y-4" noValidate>
        <Input label="Name" name="name" autoComplete="name" error={fieldErrors.name} />
        <Input
          label="Email"
          name="email"
          type="email"
          autoComplete="email"
          required
          error={fieldErrors.email}
        />
        <Input
          label="Password"
          name="password"
          type="password"
          autoComplete="new-password"
          required
          hint="At least 10 characters."
          error={fieldErrors.password}
        />
        <Button type="submit" className="w-full" disabled={pending}>
          {pending ? "Creating account…" : "Sign up"}
        </Button>
      </form>
    </div>
  );
}
