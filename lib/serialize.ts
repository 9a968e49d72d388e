// Per-key FIFO chains: a run starts after every earlier run of the same key has settled. The chains live in
// the process state (lib/state.ts), so every Next.js bundle and server.ts share one chain per key.
import { processState } from "@/lib/state";

export function keyedSerializer(name: string) {
  const chains = processState(`serializer:${name}`, () => new Map<string, Promise<unknown>>());
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
