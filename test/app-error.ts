// The one way tests assert that something failed with a given AppError.
import { expect } from "vitest";
import { AppError } from "@/lib/errors";

/** Awaits `p`, expects it to reject with an AppError whose code is (or matches) `code`; returns it. */
export async function expectAppError(
  p: Promise<unknown>,
  code: string | RegExp,
  message?: RegExp,
): Promise<AppError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected AppError ${code}`).toBeInstanceOf(AppError);
  const app = err as AppError;
  if (typeof code === "string") expect(app.code).toBe(code);
  else expect(app.code).toMatch(code);
  if (message) expect(app.message).toMatch(message);
  return app;
}
