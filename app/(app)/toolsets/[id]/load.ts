import "server-only";
import { cache } from "react";
import { notFound } from "next/navigation";
import { requireUser } from "@/lib/auth/session";
import { getToolset } from "@/lib/data/toolsets";
import { isAppError } from "@/lib/errors";

/** The signed-in person's toolset, or the 404 page (another user's toolset is "not found" too). */
export const loadToolset = cache(async (id: string) => {
  const user = await requireUser(`/toolsets/${encodeURIComponent(id)}`);
  try {
    return { user, toolset: await getToolset(user, id) };
  } catch (e) {
    if (isAppError(e) && e.status === 404) notFound();
    throw e;
  }
});
