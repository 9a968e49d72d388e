// The one way tests wait for something to happen: poll a condition until a deadline. The deadline is
// generous on purpose (a loaded machine is slow, never wrong); a condition that holds returns at once.

export type WaitOptions = {
  /** give up after this long (default 30 s) */
  timeoutMs?: number;
  /** pause between attempts (default 25 ms) */
  intervalMs?: number;
  /** what was awaited, for the error when it never happens */
  what?: string;
};

/**
 * Calls `fn` until it returns a truthy value (which is returned) without throwing. Assertions inside `fn`
 * are retried too; when the deadline passes, the last assertion error is thrown.
 */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  { timeoutMs = 30_000, intervalMs = 25, what }: WaitOptions = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let failure: unknown;
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      failure = err;
    }
    if (Date.now() >= deadline) {
      if (failure) throw failure;
      throw new Error(`${what ?? "the condition"} did not hold within ${timeoutMs / 1000} s`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
