"use client";
// The integration's settings in a dialog: name, URL and (unless a template supplies the credentials) the
// API key. Closing without saving changes nothing.
import { useRouter } from "next/navigation";
import { useEffect, useRef, useState } from "react";
import { Alert, Button, Input } from "@/components/ui";
import { NAME_PATTERN, NAME_RULE, checkName, normalizeServerUrl } from "@/lib/schemas/names";
import { updateIntegrationAction } from "../../actions";

export function EditDialog({
  id,
  name,
  url,
  hasApiKey,
  fromTemplate,
  open,
  onClose,
  onSaved,
}: {
  id: string;
  name: string;
  url: string;
  hasApiKey: boolean;
  /** Installed from a template: the template owns the credentials, so there is no API key to edit. */
  fromTemplate: boolean;
  open: boolean;
  onClose: () => void;
  onSaved: (message: string) => void;
}) {
  const router = useRouter();
  const ref = useRef<HTMLDialogElement>(null);
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<string>();
  const [nameError, setNameError] = useState<string>();
  const [typedUrl, setTypedUrl] = useState(url);

  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);

  const normalized = normalizeServerUrl(typedUrl);
  return (
    <dialog
      ref={ref}
      aria-labelledby={`edit-${id}-title`}
      onClose={onClose}
      className="m-auto w-[min(40rem,calc(100vw-2rem))] rounded-lg border border-zinc-200 p-0 shadow-xl backdrop:bg-zinc-900/40"
    >
      {open && (
        <form
          className="space-y-4 p-5"
          noValidate
          onSubmit={async (e) => {
            e.preventDefault();
            const form = new FormData(e.currentTarget);
            const key = String(form.get("apiKey") ?? "");
            const patch = {
              id,
              name: String(form.get("name")),
              url: String(form.get("url")),
              ...(fromTemplate ? {} : form.get("removeKey") ? { apiKey: "" } : key ? { apiKey: key } : {}),
            };
            setPending(true);
            setError(undefined);
            const res = await updateIntegrationAction(patch);
            setPending(false);
            if (!res.ok) {
              if (res.fieldErrors?.name) setNameError(res.fieldErrors.name);
              return setError(res.error);
            }
            router.refresh();
            const err = res.data.error;
            if (err) return setError(`Saved, but connecting failed: ${err.message}`);
            onSaved("Saved.");
          }}
        >
          <h2 id={`edit-${id}-title`} className="text-lg font-semibold">
            Edit {name}
          </h2>
          <Input
            label="Name"
            name="name"
            defaultValue={name}
            pattern={NAME_PATTERN}
            maxLength={64}
            hint={`${NAME_RULE}.`}
            error={nameError}
            onChange={(e) => {
              setNameError(checkName(e.target.value));
            }}
          />
          <Input
            label="MCP server URL"
            name="url"
            defaultValue={url}
            onChange={(e) => setTypedUrl(e.target.value)}
            hint={normalized !== typedUrl.trim() ? `Connects to ${normalized}` : undefined}
          />
          {!fromTemplate && (
            <>
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
            </>
          )}
          {error && <Alert>{error}</Alert>}
          <div className="flex flex-wrap justify-end gap-2">
            <Button type="button" variant="ghost" onClick={onClose}>
              Close
            </Button>
            <Button type="submit" disabled={pending}>
              {pending ? "Saving…" : "Save"}
            </Button>
          </div>
        </form>
      )}
    </dialog>
  );
}
