// GET /api/oauth/client-metadata — Poke's OAuth client ID metadata document (public JSON, https only)
import { clientMetadataDocument } from "@/lib/oauth/web";

export const dynamic = "force-dynamic";

export function GET() {
  return clientMetadataDocument();
}
