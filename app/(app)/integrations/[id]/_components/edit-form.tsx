"use client";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { Alert, Button, Input } from "@/components/ui";
import { updateIntegrationAction } from "../../actions";

export function EditForm({
  id,
  name,
  url,
  hasApiKey,
}: {
  id: string;
  name: string;
  url: string;
  hasApiKey: boolean;
}) {
  const router = useRouter();
  const [open, setOpen] = useState(false);
  const [pending, setPending] = useState(false);
  const [message, setMessage] = useState<{ kind: "error" | "success"; text: string }>();
  if (!open)
    return (
      <Button variant="secondary" onClick={() => setOpen(true)}>
        Edit
      </Button>
    );
  return (
    <form
      className="space-y-3 rounded-md border border-zinc-200 p-4"
      noValidate
      onSubmit={async (e) => {
        e.preventDefault();
        const form = new FormData(e.currentTarget);
        const key = String(form.get("apiKey") ?? "");
        const patch = {
          id,
          name: String(form.get("name")),
          url: String(form.get("url")),
          ...(form.get("removeKey") ? { apiKey: "" } : key ? { apiKey: key } : {}),
        };
        setPending(true);
        const res = await updateIntegrationAction(patch);
        setPending(false);
        if (!res.ok) return setMessage({ kind: "error", text: res.error });
        const err = res.data.error;
        setMessage(
          err
            ? { kind: "error", text: `Saved, but connecting failed: ${err.message}` }
            : { kind: "success", text: "Saved." },
        );
        router.refresh();
      }}
    >
      <Input label="Name" name="name" defaultValue={name} />
      <Input label="MCP server URL" name="url" defaultValue={url} />
      <Input
        label="API key"
        name="apiKey"
        type="password"
        autoComplete="off"
        placeholder={hasApiKey ? "•••••• (unchanged)" : "none"}
        hint="Leave empty to keep the current key."
      />
      {hasApiKey && (
        <label className="flex items-center gap-2 text-sm">
          <input type="checkbox" name="removeKey" /> Remove the API key
        </label>
      )}
      {message && <Alert kind={message.kind}>{message.text}</Alert>}
      <div className="flex gap-2">
        <Button type="submit" disabled={pending}>
          {pending ? "Saving…" : "Save"}
        </Button>
        <Button type="button" variant="ghost" onClick={() => setOpen(false)}>
          Close
        </Button>
      </div>
    </form>
  );
}
