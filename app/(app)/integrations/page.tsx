import type { Metadata } from "next";
import { requireUser } from "@/lib/auth/session";

export const metadata: Metadata = { title: "Integrations" };

export default async function IntegrationsPage() {
  await requireUser();
  return (
    <div>
      <h1 className="text-2xl font-semibold">Integrations</h1>
    </div>
  );
}
