// The one error type whose message may reach users. Anything else is logged and shown generically.

/**
 * Marks an AppError made by any copy of this module: the server's bundles each evaluate it once (the tunnel
 * endpoint lives in another bundle than the routes whose calls it carries), so `instanceof` alone would miss
 * an error that crossed between them and show it as an unknown failure.
 */
const BRAND = Symbol.for("poke.AppError");

export class AppError extends Error {
  constructor(
    public readonly code: string,
    message: string,
    public readonly status = 400,
    public readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = "AppError";
    Object.defineProperty(this, BRAND, { value: true });
  }
}

export const notFound = (what = "Not found") => new AppError("not_found", what, 404);

export function isAppError(e: unknown): e is AppError {
  return e instanceof AppError || (typeof e === "object" && e !== null && BRAND in e);
}

/** The first error in a `cause` chain (bounded) that matches `pred`. */
export function findCause<T>(err: unknown, pred: (e: unknown) => e is T): T | undefined {
  let cur: unknown = err;
  for (let i = 0; cur && i < 6; i++) {
    if (pred(cur)) return cur;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}
