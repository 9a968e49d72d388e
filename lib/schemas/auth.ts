import { z } from "zod";

export const emailSchema = z
  .string()
  .trim()
  .toLowerCase()
  .max(254, "Email is too long")
  .pipe(z.email("Enter a valid email address"));

export const passwordSchema = z
  .string()
  .min(10, "Use at least 10 characters")
  .max(200, "Use at most 200 characters")
  .refine((p) => new Set(p).size >= 5, "This password is too easy to guess: use more varied characters")
  .refine(
    (p) => !/^(password|1234567890|qwertyuiop)/i.test(p),
    "This password is too common: choose another one",
  );

export const signUpSchema = z.object({
  name: z.string().trim().max(100, "Name is too long").optional().default(""),
  email: emailSchema,
  password: passwordSchema,
});
export type SignUpInput = z.infer<typeof signUpSchema>;

export const changePasswordSchema = z.object({
  currentPassword: z.string().max(200).optional(),
  newPassword: passwordSchema,
});
export type ChangePasswordInput = z.infer<typeof changePasswordSchema>;

export const apiTokenCreateSchema = z.object({
  name: z.string().trim().min(1, "Give the token a name").max(100, "Name is too long"),
  expiresInDays: z.coerce
    .number()
    .int()
    .min(0)
    .max(3650, "At most 3650 days")
    .optional()
    .transform((d) => (d ? d : undefined)),
});
export type ApiTokenCreateInput = z.infer<typeof apiTokenCreateSchema>;
