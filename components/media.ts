// Media a server sends (images, audio, blobs) is shown only as a data: URL of an allowlisted type built from
// well-formed base64 (docs/security.md §15); SVG is never among them. Shared by tool results, resource
// contents and prompt messages.
export const IMAGE_TYPES = new Set([
  "image/png",
  "image/jpeg",
  "image/gif",
  "image/webp",
  "image/avif",
  "image/bmp",
]);
export const AUDIO_TYPES = new Set([
  "audio/wav",
  "audio/x-wav",
  "audio/mpeg",
  "audio/mp3",
  "audio/ogg",
  "audio/webm",
  "audio/flac",
  "audio/aac",
  "audio/mp4",
]);
export const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
/** Larger media is offered as a download only, never inlined. */
const MAX_MEDIA_BASE64 = 8 * 1024 * 1024;

export const str = (v: unknown) => (typeof v === "string" ? v : "");

/** The decoded size of base64 data. */
export function base64Bytes(b64: string): number {
  const pad = b64.endsWith("==") ? 2 : b64.endsWith("=") ? 1 : 0;
  return Math.max(0, Math.floor((b64.length * 3) / 4) - pad);
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}

/** A data: URL for inline display, only for an allowlisted type and well-formed base64; null otherwise. */
export function mediaSrc(types: Set<string>, mimeType: unknown, b64: unknown): string | null {
  const mime = str(mimeType).toLowerCase();
  const data = str(b64);
  if (!types.has(mime) || !data || data.length > MAX_MEDIA_BASE64 || !BASE64.test(data)) return null;
  return `data:${mime};base64,${data}`;
}
