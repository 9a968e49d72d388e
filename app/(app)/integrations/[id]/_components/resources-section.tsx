// Resources, resource templates and prompts of an integration, for servers that offer them (their
// capabilities say so, or something is stored). Loaded here so the page only places the section.
import { Card, formatDate } from "@/components/ui";
import type { SessionUser } from "@/lib/data/users";
import { listPrompts, listResources, listResourceTemplates } from "@/lib/data/resources";
import { PromptsPanel, type PromptItem } from "./prompts-panel";
import { ResourcesPanel, TemplatesPanel, type ResourceItem, type TemplateItem } from "./resources-panel";

const str = (v: unknown) => (typeof v === "string" ? v : null);

/** The annotations people act on (MCP `Annotations`): who the entry is for and how important it is. */
function notesOf(annotations: unknown): string[] {
  const a = (annotations && typeof annotations === "object" ? annotations : {}) as Record<string, unknown>;
  const notes: string[] = [];
  if (Array.isArray(a.audience) && a.audience.length)
    notes.push(`audience: ${a.audience.filter((x) => typeof x === "string").join(", ")}`);
  if (typeof a.priority === "number") notes.push(`priority: ${a.priority}`);
  return notes;
}
const changedOf = (d: Date | null) => (d ? formatDate(d) : null);

export async function ResourcesSection({
  user,
  integrationId,
  capabilities,
}: {
  user: SessionUser;
  integrationId: string;
  capabilities: unknown;
}) {
  const [resources, templates, prompts] = await Promise.all([
    listResources(user, integrationId),
    listResourceTemplates(user, integrationId),
    listPrompts(user, integrationId),
  ]);
  const caps = (capabilities && typeof capabilities === "object" ? capabilities : {}) as Record<
    string,
    unknown
  >;
  const offersResources = !!caps.resources || resources.length > 0 || templates.length > 0;
  const offersPrompts = !!caps.prompts || prompts.length > 0;
  if (!offersResources && !offersPrompts) return null;

  const resourceItems = resources.map((r): ResourceItem => ({
    name: r.name,
    title: str(r.title),
    description: str(r.description),
    uri: r.uri,
    mimeType: str(r.mimeType),
    size: typeof r.size === "number" ? r.size : null,
    notes: notesOf(r.annotations),
    changed: changedOf(r.changedAt),
  }));
  const templateItems = templates.map((t): TemplateItem => ({
    name: t.name,
    title: str(t.title),
    description: str(t.description),
    uriTemplate: t.uriTemplate,
    mimeType: str(t.mimeType),
    notes: notesOf(t.annotations),
    changed: changedOf(t.changedAt),
  }));
  const promptItems = prompts.map((p): PromptItem => ({
    name: p.name,
    title: str(p.title),
    description: str(p.description),
    arguments: (Array.isArray(p.arguments) ? p.arguments : []).flatMap((a: unknown) => {
      const arg = a as { name?: unknown; description?: unknown; required?: unknown };
      return typeof arg?.name === "string"
        ? [{ name: arg.name, description: str(arg.description), required: arg.required === true }]
        : [];
    }),
    changed: changedOf(p.changedAt),
  }));

  return (
    <>
      {offersResources && (
        <Card title={<span data-testid="resources-title">Resources ({resourceItems.length})</span>}>
          <ResourcesPanel integrationId={integrationId} resources={resourceItems} />
        </Card>
      )}
      {offersResources && (
        <Card title={<span data-testid="templates-title">Resource templates ({templateItems.length})</span>}>
          <TemplatesPanel integrationId={integrationId} templates={templateItems} />
        </Card>
      )}
      {offersPrompts && (
        <Card title={<span data-testid="prompts-title">Prompts ({promptItems.length})</span>}>
          <PromptsPanel integrationId={integrationId} prompts={promptItems} />
        </Card>
      )}
    </>
  );
}
