"use server";
import { defineAction } from "@/lib/actions";
import { signUp } from "@/lib/data/users";
import { signUpSchema } from "@/lib/schemas/auth";

export const signUpAction = defineAction(
  signUpSchema,
  async (input) => {
    const user = await signUp(input);
    return { email: user.email };
  },
  { public: true },
);
