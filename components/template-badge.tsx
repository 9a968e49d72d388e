// "From template X" on an integration page (placed by the integration page; Kitchen-owned).
// Server component: reads the template's name only for someone who has an integration made from it.
import { Badge } from "@/components/ui";
import { templateBadgeFor } from "@/lib/data/kitchen";

export async function TemplateBadge({
  user,
  templateId,
}: {
  user: { id: string };
  templateId: string | null;
}) {
  const t = await templateBadgeFor(user, templateId);
  if (!t) return null;
  return (
    <span data-testid="template-badge" title="Set up by an admin in the Kitchen">
      <Badge tone="sky">from template {t.name}</Badge>
    </span>
  );
}
