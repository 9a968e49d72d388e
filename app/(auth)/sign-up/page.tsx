import type { Metadata } from "next";
import Link from "next/link";
import { redirect } from "next/navigation";
import { currentUser } from "@/lib/auth/session";
import { safeReturnPath } from "@/lib/schemas/paths";
import { SignUpForm } from "./_components/sign-up-form";

export const metadata: Metadata = { title: "Sign up" };
export const dynamic = "force-dynamic";

export default async function SignUpPage({
  searchParams,
}: {
  searchParams: Promise<Record<string, string>>;
}) {
  const returnTo = safeReturnPath((await searchParams).callbackUrl);
  if (await currentUser()) redirect(returnTo);
  return (
    <>
      <SignUpForm returnTo={returnTo} />
      <p className="mt-6 text-center text-sm text-zinc-600">
        Already have an account?{" "}
        <Link
          className="font-medium text-zinc-900 underline"
          href={`/sign-in?callbackUrl=${encodeURIComponent(returnTo)}`}
        >
          Sign in
        </Link>
      </p>
    </>
  );
}
