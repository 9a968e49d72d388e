import "server-only";
import { listToolChoices } from "@/lib/data/toolsets";
import type { IntegrationChoice } from "../_components/toolset-form";

/** The person's integrations and tools, reduced to what the selection tree shows. */
export async function integrationChoices(user: { id: string }): Promise<IntegrationChoice[]> {
  const rows = await listToolChoices(user);
  return rows.map((i) => ({
    id: i.id,
    name: i.name,
    status: i.status,
    tools: i.tools.map((t) => ({
      name: t.name,
      title: t.title,
      description: t.description,
      enabled: t.enabled,
      readOnly: t.readOnly,
    })),
  }));
}
