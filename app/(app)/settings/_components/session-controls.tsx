"use client";
import { signOut } from "next-auth/react";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { Alert, Button, Input } from "@/components/ui";
import { changePasswordAction, revokeSessionAction, signOutEverywhereAction } from "./session-actions";

export function SignOutEverywhereButton() {
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<string>();
  return (
    <div className="space-y-2">
      <Button
        variant="danger"
        disabled={pending}
        onClick={async () => {
          if (!confirm("Sign out on every device, this one included?")) return;
          setPending(true);
          setError(undefined);
          const res = await signOutEverywhereAction({});
          if (!res.ok) {
            setPending(false);
            return setError(res.error);
          }
          await signOut({ callbackUrl: "/sign-in" });
        }}
      >
        {pending ? "Signing out…" : "Sign out everywhere"}
      </Button>
      {error && <Alert>{error}</Alert>}
    </div>
  );
}

export function RevokeSessionButton({ id, label }: { id: string; label: string }) {
  const router = useRouter();
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<string>();
  return (
    <>
      <Button
        variant="secondary"
        aria-label={`End session: ${label}`}
        disabled={pending}
        onClick={async () => {
          setPending(true);
          const res = await revokeSessionAction({ id });
          setPending(false);
          if (res.ok) router.refresh();
          else setError(res.error);
        }}
      >
        End session
      </Button>
      {error && <Alert>{error}</Alert>}
    </>
  );
}

export function ChangePasswordForm({ hasPassword }: { hasPassword: boolean }) {
  const [error, setError] = useState<string>();
  const [done, setDone] = useState(false);
  const [pending, setPending] = useState(false);

  async function onSubmit(e: React.FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const formEl = e.currentTarget;
    const form = new FormData(formEl);
    setPending(true);
    setError(undefined);
    setDone(false);
    const res = await changePasswordAction({
      currentPassword: hasPassword ? String(form.get("currentPassword")) : undefined,
      newPassword: String(form.get("newPassword")),
    });
    setPending(false);
    if (!res.ok) return setError(res.error);
    setDone(true);
    formEl.reset();
  }

  return (
    <form onSubmit={onSubmit} className="space-y-3" noValidate>
      {error && <Alert>{error}</Alert>}
      {done && <Alert kind="success">Password changed. Your other sessions were signed out.</Alert>}
      <div className="flex flex-wrap items-end gap-3">
        {hasPassword && (
          <div className="w-full sm:w-56">
            <Input
              label="Current password"
              name="currentPassword"
              type="password"
              autoComplete="current-password"
              required
            />
          </div>
        )}
        <div className="w-full sm:w-56">
          <Input
            label="New password"
            name="newPassword"
            type="password"
            autoComplete="new-password"
            required
          />
        </div>
        <Button type="submit" disabled={pending}>
          {pending ? "Saving…" : hasPassword ? "Change password" : "Set password"}
        </Button>
      </div>
    </form>
  );
}
