"use client";
// The call filters: each change applies at once (the URL is replaced, so Back leaves the page rather than
// stepping through filter states). Without JavaScript the form still submits as a GET.
import Link from "next/link";
import { usePathname, useRouter } from "next/navigation";
import { useTransition } from "react";

export type FilterOption = { value: string; label: string };
export type Filter = { name: string; label: string; any: string; options: FilterOption[]; value?: string };

export function ActivityFilters({ filters }: { filters: Filter[] }) {
  const router = useRouter();
  const pathname = usePathname();
  const [pending, startTransition] = useTransition();
  const filtered = filters.some((f) => f.value);
  return (
    <form
      method="get"
      className="mb-4 flex flex-wrap items-end gap-3 text-sm"
      aria-label="Filter calls"
      aria-busy={pending}
      onChange={(e) => {
        const params = new URLSearchParams();
        for (const [k, v] of new FormData(e.currentTarget)) if (typeof v === "string" && v) params.set(k, v);
        const q = params.toString();
        startTransition(() => router.replace(q ? `${pathname}?${q}` : pathname, { scroll: false }));
      }}
    >
      {filters.map((f) => (
        <label key={f.name} className="block min-w-0 max-w-full">
          <span className="font-medium text-zinc-800">{f.label}</span>
          <select
            name={f.name}
            // keyed by the value: a navigation (Clear, Back) resets the uncontrolled select
            key={f.value ?? ""}
            defaultValue={f.value ?? ""}
            className="mt-1 block w-full max-w-[14rem] rounded-md border border-zinc-300 bg-white px-2 py-1.5"
          >
            <option value="">{f.any}</option>
            {f.options.map((o) => (
              <option key={o.value} value={o.value}>
                {o.label}
              </option>
            ))}
          </select>
        </label>
      ))}
      <noscript>
        <button type="submit" className="rounded-md border border-zinc-300 px-3 py-1.5">
          Apply filters
        </button>
      </noscript>
      {filtered && (
        <Link href={pathname} className="py-1.5 text-zinc-600 hover:underline">
          Clear
        </Link>
      )}
      {pending && (
        <span role="status" className="py-1.5 text-zinc-500">
          Updating…
        </span>
      )}
    </form>
  );
}
