// One recipe item as the visitor sees it before installing: name, exact origin, requested scopes.
import { Badge } from "@/components/ui";

const AUTH: Record<string, string> = {
  none: "no sign-in needed",
  api_key: "asks for your API key",
  oauth: "sign in with the provider (OAuth)",
};

export function ItemHeader({
  item,
}: {
  item: {
    name: string;
    description: string;
    iconUrl: string | null;
    origin: string;
    authKind: string;
    scopes: string[];
    required: boolean;
  };
}) {
  return (
    <div className="flex items-start gap-3">
      {item.iconUrl && (
        // Admin-supplied (https or validated data: URL); no referrer leaves with the request.
        // eslint-disable-next-line @next/next/no-img-element
        <img
          src={item.iconUrl}
          alt=""
          width={32}
          height={32}
          referrerPolicy="no-referrer"
          className="rounded"
        />
      )}
      <div className="min-w-0 flex-1">
        <div className="flex flex-wrap items-center gap-2">
          <span className="font-medium">{item.name}</span>
          <Badge tone={item.required ? "zinc" : "sky"}>{item.required ? "required" : "optional"}</Badge>
          <span className="text-xs text-zinc-500">{AUTH[item.authKind] ?? item.authKind}</span>
        </div>
        <div className="mt-0.5 font-mono text-sm break-all text-zinc-700" data-testid="item-origin">
          {item.origin}
        </div>
        {item.scopes.length > 0 && (
          <div className="mt-1 flex flex-wrap items-center gap-1 text-xs" data-testid="item-scopes">
            <span className="text-zinc-500">Requested access:</span>
            {item.scopes.map((s) => (
              <Badge key={s}>{s}</Badge>
            ))}
          </div>
        )}
        {item.description && <p className="mt-1 text-sm text-zinc-600">{item.description}</p>}
      </div>
    </div>
  );
}
