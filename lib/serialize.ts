// Per-key FIFO chains within one process: a run starts after every earlier run of the same key settled.
// State lives on globalThis so the Next.js bundles and the custom server share one chain per key.

type Chains = Map<string, Promise<unknown>>;

export function keyedSerializer(globalName: string) {
  const g = globalThis as unknown as Record<string, Chains | undefined>;
  const chains = (g[globalName] ??= new Map());
  return function serialized<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = chains.get(key) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => {});
    chains.set(key, tail);
    void tail.then(() => {
      if (chains.get(key) === tail) chains.delete(key);
    });
    return run;
  };
}
