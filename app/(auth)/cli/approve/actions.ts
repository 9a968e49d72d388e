"use server";
import { z } from "zod";
import { defineAction } from "@/lib/actions";
import { approveCliLogin, denyCliLogin } from "@/lib/tunnel/cli-login";

const input = z.object({ code: z.string().trim().min(1).max(20), host: z.string().max(200).optional() });

export const approveCliLoginAction = defineAction(input, async ({ code, host }, user) => {
  await approveCliLogin(user, code, host);
  return null;
});

export const denyCliLoginAction = defineAction(input, async ({ code }) => {
  await denyCliLogin(code);
  return null;
});
