import type { Metadata } from "next";
import Link from "next/link";
import { redirect } from "next/navigation";
import { externalProviders } from "@/lib/auth/options";
import { currentUser } from "@/lib/auth/session";
import { signInErrorMessage } from "@/lib/auth/sign-in-errors";
import { safeReturnPath } from "@/lib/schemas/paths";
import { SignInForm } from "./_components/sign-in-form";

export const metadata: Metadata = { title: "Sign in" };
export const dynamic = "force-dynamic";

export default async function SignInPage({
  searchParams,
}: {
  searchParams: Promise<Record<string, string>>;
}) {
  const sp = await searchParams;
  const returnTo = safeReturnPath(sp.callbackUrl);
  if (await currentUser()) redirect(returnTo);
  return (
    <>
      <SignInForm
        returnTo={returnTo}
        providers={externalProviders()}
        initialError={sp.error ? signInErrorMessage(sp.error) : undefined}
      />
      <p className="mt-6 text-center text-sm text-zinc-600">
        No account?{" "}
        <Link
          className="font-medium text-zinc-900 underline"
          href={`/sign-up?callbackUrl=${encodeURIComponent(returnTo)}`}
        >
          Sign up
        </Link>
      </p>
    </>
  );
}
