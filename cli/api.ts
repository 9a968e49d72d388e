// The app's HTTP API as the CLI sees it: JSON in, JSON out, errors turned into one readable line.
import { CliError } from "./args";
import type { Credentials } from "./config";

export type ApiError = { code: string; message: string };

export class ApiFailure extends CliError {
  constructor(
    readonly status: number,
    readonly error: ApiError,
  ) {
    super(error.message, 1);
  }
}

export async function request<T>(
  base: string,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown } = {},
): Promise<{ status: number; data: T }> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers["content-type"] = "application/json";
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    });
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
    throw new CliError(
      `Cannot reach Poke at ${base} (${cause}). Is the server running? Use --url to change it.`,
    );
  }
  const text = await res.text();
  let data: unknown = undefined;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    throw new CliError(
      `${base} answered HTTP ${res.status} with something that is not JSON: is it a Poke server?`,
    );
  }
  if (!res.ok && res.status !== 202) {
    const err = (data as { error?: ApiError } | undefined)?.error;
    if (res.status === 401)
      throw new ApiFailure(401, {
        code: err?.code ?? "unauthorized",
        message: `${err?.message ?? "Unauthorized"} — run \`poke login\`.`,
      });
    throw new ApiFailure(res.status, err ?? { code: "http_error", message: `HTTP ${res.status}` });
  }
  return { status: res.status, data: data as T };
}

export const api = <T>(c: Credentials, method: string, path: string, body?: unknown) =>
  request<T>(c.url, method, path, { token: c.token, body }).then((r) => r.data);
