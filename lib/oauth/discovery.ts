// Whether a server that answered 401 without a `resource_metadata` challenge uses OAuth at all
// (docs/security.md §7): protected-resource metadata at its well-known paths (path-based, then root), or —
// servers of the 2025-03-26 revision publish none — authorization-server metadata on its own origin.
import {
  discoverAuthorizationServerMetadata,
  discoverOAuthProtectedResourceMetadata,
} from "@modelcontextprotocol/client";
import { oauthTargetFor } from "@/lib/oauth/net";

export async function oauthAdvertised(url: string, userId: string): Promise<boolean> {
  try {
    const target = await oauthTargetFor({ url, userId });
    const prm = await discoverOAuthProtectedResourceMetadata(target.serverUrl, undefined, target.fetch).catch(
      () => undefined,
    );
    if (prm?.authorization_servers?.length) return true;
    const origin = new URL("/", target.serverUrl);
    const meta = await discoverAuthorizationServerMetadata(origin, {
      fetchFn: target.fetch,
      // Only a hint that OAuth is in use; the flow itself checks the issuer before sending anything.
      skipIssuerValidation: true,
    }).catch(() => undefined);
    return !!meta?.authorization_endpoint;
  } catch {
    return false;
  }
}
