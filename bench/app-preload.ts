// Preloaded into the benchmarked app (`node --import tsx --import ./bench/app-preload.ts server.ts`): lifts
// the per-user tool-call rate limit (10/s, bursts of 50), which would otherwise turn 1000 sequential calls
// into a measurement of the limiter's wait. The limiter still runs, so its cost stays in the figures.
// Its state lives on globalThis, which the Next.js bundles share with the custom server.
import { liftCallRateLimit } from "./limits";

await liftCallRateLimit();
