import type { Metadata } from "next";
import { Alert, Card } from "@/components/ui";
import { requireUser } from "@/lib/auth/session";
import { cleanHostLabel, findPendingLogin, normalizeCode } from "@/lib/tunnel/cli-login";
import { ApproveButtons } from "./_components/approve-buttons";

export const metadata: Metadata = { title: "Approve CLI login" };
// Outside the app shell (whose layout sends visitors to sign-in without a way back): signing in returns here.
export const dynamic = "force-dynamic";

type Search = Promise<{ code?: string | string[]; host?: string | string[] }>;
const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v) ?? "";

export default async function ApproveCliLoginPage({ searchParams }: { searchParams: Search }) {
  const q = await searchParams;
  const code = normalizeCode(first(q.code)).slice(0, 20);
  const host = cleanHostLabel(first(q.host));
  const user = await requireUser(
    `/cli/approve?code=${encodeURIComponent(code)}&host=${encodeURIComponent(host)}`,
  );
  const pending = code ? await findPendingLogin(code) : null;
  return (
    <div className="space-y-6">
      <h1 className="text-2xl font-semibold">Approve CLI login</h1>
      <Card>
        {!pending ? (
          <Alert>
            This login code is unknown, expired or already used. Run <code>poke login</code> again.
          </Alert>
        ) : (
          <div className="space-y-4 text-sm">
            <p>
              A <code>poke</code> command line on <strong>{host}</strong> asks to act as{" "}
              <strong>{user.email}</strong>. Approve only if you just ran <code>poke login</code> and your
              terminal shows this code:
            </p>
            <p className="text-center font-mono text-3xl tracking-widest" data-testid="cli-code">
              {code}
            </p>
            <p className="text-zinc-600">
              Approving creates an API token named “CLI ({host})”; revoke it any time in Settings.
            </p>
            <ApproveButtons code={code} host={host} />
          </div>
        )}
      </Card>
    </div>
  );
}
