// Every Kitchen data function starts here: the actor's role is re-read from the database, so a stale
// session (or a hand-built user object) can't reach admin data. Non-admins get "not found" (STYLE).
import "server-only";
import { getSessionUser } from "@/lib/data/users";
import { notFound } from "@/lib/errors";

export type Actor = { id: string };

export async function assertAdmin(actor: Actor | null | undefined): Promise<void> {
  if (!actor?.id) throw notFound();
  if ((await getSessionUser(actor.id))?.role !== "admin") throw notFound();
}

/** Origin of a stored URL, for display and audit (never the full URL with its query). */
export function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return "(invalid URL)";
  }
}
