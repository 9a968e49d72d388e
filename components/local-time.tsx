"use client";
// A moment in the reader's own time zone. The server (which can't know the zone) renders UTC; the browser
// switches to local time right after hydration, so the two renders never disagree.
import { useSyncExternalStore } from "react";

const subscribe = () => () => {};
let cached: Intl.DateTimeFormat | undefined;
const formatter = () =>
  (cached ??= new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" }));

export function formatUtc(d: Date): string {
  return d.toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

export function LocalTime({ at }: { at: string | Date }) {
  const d = new Date(at);
  const text = useSyncExternalStore(
    subscribe,
    () => formatter().format(d),
    () => formatUtc(d),
  );
  return (
    <time dateTime={d.toISOString()} title={formatUtc(d)} suppressHydrationWarning>
      {text}
    </time>
  );
}
