"use server";
import { revalidatePath } from "next/cache";
import { z } from "zod";
import { defineAction } from "@/lib/actions";
import { setUserRole } from "@/lib/data/users";

export const setRoleAction = defineAction(
  z.object({ userId: z.string().min(1).max(64), role: z.enum(["user", "admin"]) }),
  async ({ userId, role }, user) => {
    await setUserRole(user, userId, role);
    revalidatePath("/admin");
    return null;
  },
  { admin: true },
);
