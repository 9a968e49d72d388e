// Settings → Sign-in and sessions: the person's live sessions (device, address, last seen) with a per-session
// sign-out, "Sign out everywhere", and the password change that signs out every other session.
import { LocalTime } from "@/components/local-time";
import { Card } from "@/components/ui";
import { listSessions } from "@/lib/data/sessions";
import { hasPassword, type SessionUser } from "@/lib/data/users";
import { ChangePasswordForm, RevokeSessionButton, SignOutEverywhereButton } from "./session-controls";

/** A short device label from a User-Agent string ("Chrome on Linux"); display only. */
function deviceLabel(ua: string | null): string {
  if (!ua) return "Unknown device";
  const browser = /Edg\//.test(ua)
    ? "Edge"
    : /Chrom(e|ium)\//.test(ua)
      ? "Chrome"
      : /Firefox\//.test(ua)
        ? "Firefox"
        : /Safari\//.test(ua)
          ? "Safari"
          : /^poke\//i.test(ua)
            ? "poke CLI"
            : ua.split(/[\s/]/)[0] || "Browser";
  const os = /Windows/.test(ua)
    ? "Windows"
    : /Mac OS X/.test(ua)
      ? "macOS"
      : /Android/.test(ua)
        ? "Android"
        : /iPhone|iPad/.test(ua)
          ? "iOS"
          : /Linux/.test(ua)
            ? "Linux"
            : "";
  return os ? `${browser} on ${os}` : browser;
}

export async function SessionsCard({
  user,
  currentSessionId,
}: {
  user: SessionUser;
  currentSessionId?: string;
}) {
  const [sessions, withPassword] = await Promise.all([listSessions(user), hasPassword(user)]);
  return (
    <Card title={<span id="sessions">Sign-in and sessions</span>}>
      <p className="mb-4 text-sm text-zinc-600">
        Where you are signed in. Signing out a session ends it at once on that device.
      </p>
      <table className="responsive-table w-full text-left text-sm">
        <thead className="text-xs uppercase text-zinc-500">
          <tr>
            <th className="py-2">Device</th>
            <th>Address</th>
            <th>Signed in</th>
            <th>Last seen</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {sessions.map((s) => {
            const label = deviceLabel(s.userAgent);
            const current = s.id === currentSessionId;
            return (
              <tr key={s.id} className="border-t border-zinc-100 align-top" data-testid="session-row">
                <td className={`py-2 pr-3 break-words font-medium`}>
                  {label}
                  {current && <span className="ml-2 text-xs text-emerald-700">(this device)</span>}
                </td>
                <td className={`py-2 pr-3 break-all`} data-label="Address">
                  {s.ip ?? "unknown"}
                </td>
                <td className="py-2 pr-3" data-label="Signed in">
                  <LocalTime at={s.createdAt} />
                </td>
                <td className="py-2 pr-3" data-label="Last seen">
                  <LocalTime at={s.lastSeenAt} />
                </td>
                <td className={`py-2 pr-3 sm:text-right`}>
                  {!current && <RevokeSessionButton id={s.id} label={label} />}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <div className="mt-4">
        <SignOutEverywhereButton />
      </div>
      <div className="mt-6 border-t border-zinc-100 pt-4">
        <h3 className="mb-2 text-sm font-semibold">{withPassword ? "Change password" : "Set a password"}</h3>
        <ChangePasswordForm hasPassword={withPassword} />
      </div>
    </Card>
  );
}
