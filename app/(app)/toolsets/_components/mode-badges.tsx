import { Badge } from "@/components/ui";

export function ModeBadges({ readOnly, searchMode }: { readOnly: boolean; searchMode: boolean }) {
  return (
    <>
      {readOnly && <Badge tone="green">read-only</Badge>}
      {searchMode && <Badge tone="sky">search mode</Badge>}
    </>
  );
}
