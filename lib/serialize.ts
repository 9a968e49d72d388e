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

type Waiting<I, O> = { item: I; resolve: (out: O) => void; reject: (err: unknown) => void };

/**
 * Group commit: items submitted in the same turn of the event loop, or while a batch runs, go to `run`
 * together as the next batch; one batch runs at a time. `run` answers each item in order; if it throws, every
 * item of that batch gets the error. Under load many callers share one commit; a lone caller waits one turn.
 */
export function groupCommit<I, O>(run: (items: I[]) => Promise<O[]>): (item: I) => Promise<O> {
  let queue: Waiting<I, O>[] = [];
  let running = false;
  async function drain() {
    running = true;
    while (queue.length) {
      const batch = queue;
      queue = [];
      try {
        const out = await run(batch.map((w) => w.item));
        batch.forEach((w, i) => w.resolve(out[i]));
      } catch (err) {
        for (const w of batch) w.reject(err);
      }
    }
    running = false;
  }
  return (item) =>
    new Promise<O>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      if (!running && queue.length === 1) setImmediate(() => void drain());
    });
}
