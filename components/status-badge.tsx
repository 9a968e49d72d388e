import { Badge } from "@/components/ui";

const STATUS: Record<string, { label: string; tone: "zinc" | "green" | "red" | "amber" | "sky" }> = {
  connected: { label: "connected", tone: "green" },
  pending: { label: "connecting", tone: "sky" },
  needs_auth: { label: "needs authorization", tone: "amber" },
  needs_reauth: { label: "reconnect needed", tone: "amber" },
  offline: { label: "offline", tone: "zinc" },
  error: { label: "error", tone: "red" },
};

export function StatusBadge({ status }: { status: string }) {
  const s = STATUS[status] ?? { label: status, tone: "zinc" as const };
  return (
    <span data-testid="integration-status">
      <Badge tone={s.tone}>{s.label}</Badge>
    </span>
  );
}
