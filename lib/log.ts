// Minimal structured logging. Never log secrets: pass ids and codes, not values.
import { env } from "@/lib/env";

const levels = { debug: 10, info: 20, warn: 30, error: 40 } as const;
type Level = keyof typeof levels;

function emit(level: Level, msg: string, extra?: unknown) {
  let threshold: Level = "info";
  try {
    threshold = env().LOG_LEVEL;
  } catch {
    /* configuration not loaded yet */
  }
  if (levels[level] < levels[threshold]) return;
  const detail =
    extra instanceof Error
      ? ` ${extra.name}: ${extra.message}${extra.stack ? `\n${extra.stack}` : ""}`
      : extra
        ? ` ${JSON.stringify(extra)}`
        : "";
  (level === "error" ? console.error : level === "warn" ? console.warn : console.log)(
    `${new Date().toISOString()} ${level} ${msg}${detail}`,
  );
}

export const log = {
  debug: (m: string, x?: unknown) => emit("debug", m, x),
  info: (m: string, x?: unknown) => emit("info", m, x),
  warn: (m: string, x?: unknown) => emit("warn", m, x),
  error: (m: string, x?: unknown) => emit("error", m, x),
};
