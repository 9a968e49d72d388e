"use client";
import { useState, useSyncExternalStore } from "react";
import { Alert, Button } from "@/components/ui";
import { approveCliLoginAction, denyCliLoginAction } from "../actions";

export function ApproveButtons({ code, host }: { code: string; host: string }) {
  const [state, setState] = useState<"idle" | "pending" | "approved" | "denied">("idle");
  const [error, setError] = useState<string>();
  // Clickjacking guard: approving grants an API token, so never offer the buttons inside a frame.
  // The server snapshot says "framed" so the buttons only appear after the browser has checked.
  const framed = useSyncExternalStore(
    () => () => {},
    () => window.top !== window.self,
    () => true,
  );

  async function decide(approve: boolean) {
    setState("pending");
    setError(undefined);
    const res = await (approve ? approveCliLoginAction : denyCliLoginAction)({ code, host });
    if (!res.ok) {
      setState("idle");
      return setError(res.error);
    }
    setState(approve ? "approved" : "denied");
  }

  if (state === "approved")
    return (
      <Alert kind="success">
        <span data-testid="cli-approved">Approved. Return to your terminal — poke is now signed in.</span>
      </Alert>
    );
  if (state === "denied") return <Alert kind="info">Denied. The code can no longer be used.</Alert>;
  if (framed) return null;
  return (
    <div className="space-y-3">
      {error && <Alert>{error}</Alert>}
      <div className="flex gap-3">
        <Button onClick={() => decide(true)} disabled={state === "pending"}>
          Approve
        </Button>
        <Button variant="secondary" onClick={() => decide(false)} disabled={state === "pending"}>
          Deny
        </Button>
      </div>
    </div>
  );
}
