"use server";
// Recipe install actions: signed-in person only (defineAction), acting on their own integrations.
// Server actions carry Next's built-in Origin check, so a foreign page can't drive an install.
import { revalidatePath } from "next/cache";
import { defineAction } from "@/lib/actions";
import {
  cancelInstall,
  connectItem,
  skipItem,
  startInstall,
  submitApiKey,
  syncInstallProgress,
} from "@/lib/kitchen/install";
import {
  installApiKeySchema,
  installItemSchema,
  installStartSchema,
  shareTokenSchema,
} from "@/lib/schemas/kitchen";
import { z } from "zod";

const tokenOnly = z.object({ token: shareTokenSchema });
const refresh = (token: string) => revalidatePath(`/r/${token}`);

export const startInstallAction = defineAction(installStartSchema, async (input, user) => {
  const view = await startInstall(user, input);
  refresh(input.token);
  return view;
});

export const connectItemAction = defineAction(installItemSchema, async (input, user) => {
  const { view, result } = await connectItem(user, input);
  refresh(input.token);
  return { view, error: result.error?.message ?? null };
});

export const submitApiKeyAction = defineAction(installApiKeySchema, async (input, user) => {
  const { view, result } = await submitApiKey(user, input);
  refresh(input.token);
  return { view, error: result.error?.message ?? null };
});

export const skipItemAction = defineAction(installItemSchema, async (input, user) => {
  const view = await skipItem(user, input);
  refresh(input.token);
  return view;
});

export const cancelInstallAction = defineAction(tokenOnly, async (input, user) => {
  const res = await cancelInstall(user, input);
  refresh(input.token);
  return res;
});

export const syncInstallAction = defineAction(tokenOnly, async (input, user) => {
  const view = await syncInstallProgress(user, input);
  return { done: view.done };
});
