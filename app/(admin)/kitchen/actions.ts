"use server";
// Kitchen server actions: every one is admin-only (role re-read from the DB by defineAction, and again by
// each lib/kitchen function) and makes one call into lib/kitchen.
import { revalidatePath } from "next/cache";
import { z } from "zod";
import { defineAction } from "@/lib/actions";
import { testTemplate } from "@/lib/kitchen/probe";
import {
  createRecipe,
  deleteRecipe,
  rotateShareLink,
  setShareEnabled,
  updateRecipe,
} from "@/lib/kitchen/recipes";
import { createTemplate, deleteTemplate, updateTemplate } from "@/lib/kitchen/templates";
import { idSchema, recipeInputSchema, templateInputSchema, templateTestSchema } from "@/lib/schemas/kitchen";

const admin = { admin: true } as const;
const done = () => revalidatePath("/kitchen", "layout");

export const createTemplateAction = defineAction(
  templateInputSchema,
  async (input, user) => {
    const t = await createTemplate(user, input);
    done();
    return { id: t.id };
  },
  admin,
);

export const updateTemplateAction = defineAction(
  templateInputSchema.extend({ id: idSchema }),
  async ({ id, ...input }, user) => {
    const { followed } = await updateTemplate(user, id, input);
    done();
    return { followed };
  },
  admin,
);

export const deleteTemplateAction = defineAction(
  z.object({ id: idSchema }),
  async ({ id }, user) => {
    const res = await deleteTemplate(user, id);
    done();
    return res;
  },
  admin,
);

export const testTemplateAction = defineAction(
  templateTestSchema,
  (input, user) => testTemplate(user, input),
  admin,
);

export const createRecipeAction = defineAction(
  recipeInputSchema,
  async (input, user) => {
    const { recipe, shareUrl } = await createRecipe(user, input);
    done();
    return { id: recipe.id, shareUrl };
  },
  admin,
);

export const updateRecipeAction = defineAction(
  recipeInputSchema.extend({ id: idSchema }),
  async ({ id, ...input }, user) => {
    await updateRecipe(user, id, input);
    done();
    return null;
  },
  admin,
);

export const deleteRecipeAction = defineAction(
  z.object({ id: idSchema }),
  async ({ id }, user) => {
    await deleteRecipe(user, id);
    done();
    return null;
  },
  admin,
);

export const rotateLinkAction = defineAction(
  z.object({ id: idSchema }),
  async ({ id }, user) => {
    const res = await rotateShareLink(user, id);
    done();
    return res;
  },
  admin,
);

export const setShareEnabledAction = defineAction(
  z.object({ id: idSchema, enabled: z.boolean() }),
  async ({ id, enabled }, user) => {
    await setShareEnabled(user, id, enabled);
    done();
    return null;
  },
  admin,
);
