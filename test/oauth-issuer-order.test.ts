// The issuer rule (docs/oauth.md, "The flow" step 1) relies on the SDK handing Poke the discovered state
// (saveDiscoveryState, where validateDiscovery runs) before it registers a client, builds an authorization
// request or sends a token request — the SDK's own issuer check is off for the first leg. This drives the
// real SDK flow through servers with and without protected-resource metadata, records the order of requests
// at the fixture authorization server and the moment the check has run, and fails if anything was sent to
// registration, authorization or token endpoints before it (an SDK upgrade that reorders would break it).
import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { getDb } from "@/lib/db";
import { completeAuthorization, startAuthorization } from "@/lib/oauth/flow";
import { DbOAuthProvider } from "@/lib/oauth/provider";
import {
  followAuthorization,
  startOAuthServer,
  type OAuthFixture,
  type OAuthServerOptions,
} from "./fixtures/oauth-servers";
import { expectAppError } from "./app-error";

const fixtures: OAuthFixture[] = [];
afterAll(async () => {
  await Promise.all(fixtures.map((f) => f.close()));
});

/** What happened, in order: requests as the fixture recorded them, and the engine's issuer check. */
type Event =
  { kind: "request"; path: string } | { kind: "issuer-check"; passed: boolean } | { kind: "redirect" };
let events: Event[] = [];
let watched: OAuthFixture | undefined;
let seen = 0;

/** Moves the fixture's newly recorded requests into the event log (they are recorded as they arrive). */
function drain(): void {
  if (!watched) return;
  for (; seen < watched.requests.length; seen++)
    events.push({ kind: "request", path: watched.requests[seen].path });
}

beforeEach(() => {
  events = [];
  seen = 0;
  const save = DbOAuthProvider.prototype.saveDiscoveryState;
  vi.spyOn(DbOAuthProvider.prototype, "saveDiscoveryState").mockImplementation(async function (
    this: DbOAuthProvider,
    state,
  ) {
    drain();
    try {
      await save.call(this, state);
      events.push({ kind: "issuer-check", passed: true });
    } catch (err) {
      events.push({ kind: "issuer-check", passed: false });
      throw err;
    }
  });
  const redirect = DbOAuthProvider.prototype.redirectToAuthorization;
  vi.spyOn(DbOAuthProvider.prototype, "redirectToAuthorization").mockImplementation(async function (
    this: DbOAuthProvider,
    url,
  ) {
    drain();
    events.push({ kind: "redirect" });
    return redirect.call(this, url);
  });
});
afterEach(() => {
  vi.restoreAllMocks();
  watched = undefined;
});

const SENDS = /^\/(register|authorize|token)$/;

async function run(o: OAuthServerOptions, { complete = true } = {}) {
  const fx = await startOAuthServer(o);
  fixtures.push(fx);
  watched = fx;
  const db = await getDb();
  const user = await db.user.create({
    data: { email: `iss-${Date.now()}-${randomBytes(3).toString("hex")}@example.com` },
  });
  const integ = await db.integration.create({
    data: { userId: user.id, name: "issuer-order", url: fx.mcpUrl, status: "needs_auth" },
  });
  const browserBinding = randomBytes(32).toString("base64url");
  const start = startAuthorization({ userId: user.id, integrationId: integ.id, browserBinding });
  return { fx, user, integ, browserBinding, start, complete };
}

/** Everything that reached registration, authorization or token endpoints came after a passed check. */
function assertCheckedFirst(): void {
  drain();
  const firstCheck = events.findIndex((e) => e.kind === "issuer-check");
  expect(firstCheck, "the issuer check ran").toBeGreaterThanOrEqual(0);
  expect(events[firstCheck]).toEqual({ kind: "issuer-check", passed: true });
  const early = events
    .slice(0, firstCheck)
    .filter((e) => e.kind === "redirect" || (e.kind === "request" && SENDS.test(e.path)));
  expect(early, "sent before the issuer check").toEqual([]);
}

describe("the issuer check runs before anything is sent", () => {
  for (const prm of [false, true]) {
    it(`${prm ? "with" : "without"} protected-resource metadata: check, then registration, authorization, token`, async () => {
      const { user, browserBinding, start } = await run({ noPrm: !prm });
      const { authorizationUrl } = await start;
      const callback = await followAuthorization(authorizationUrl);
      const done = await completeAuthorization({
        userId: user.id,
        browserBinding,
        params: callback.searchParams,
        sync: false,
      });
      expect(done.ok).toBe(true);
      assertCheckedFirst();
      const paths = events.flatMap((e) => (e.kind === "request" && SENDS.test(e.path) ? [e.path] : []));
      expect(paths).toEqual(["/register", "/authorize", "/token"]);
    });
  }

  it("without protected-resource metadata, an issuer under a path of the same origin is accepted (2025-03-26)", async () => {
    const { user, browserBinding, start } = await run({ noPrm: true, issuerPath: "/oauth" });
    const { authorizationUrl } = await start;
    const callback = await followAuthorization(authorizationUrl);
    expect(
      (
        await completeAuthorization({
          userId: user.id,
          browserBinding,
          params: callback.searchParams,
          sync: false,
        })
      ).ok,
    ).toBe(true);
    assertCheckedFirst();
  });

  for (const [name, o] of [
    ["with protected-resource metadata, the same-origin issuer under a path", { issuerPath: "/oauth" }],
    ["with protected-resource metadata, a foreign issuer", { hostile: "wrong-issuer" }],
    ["without protected-resource metadata, a foreign issuer", { hostile: "wrong-issuer", noPrm: true }],
  ] as const) {
    it(`${name} is refused before anything is sent`, async () => {
      const { fx, start } = await run(o);
      await expectAppError(start, "issuer_mismatch");
      drain();
      expect(events.filter((e) => e.kind === "issuer-check")).toEqual([
        { kind: "issuer-check", passed: false },
      ]);
      expect(fx.requests.filter((r) => SENDS.test(r.path))).toEqual([]);
      expect(events.some((e) => e.kind === "redirect")).toBe(false);
      expect(fx.stats.registrations + fx.stats.tokenRequests).toBe(0);
    });
  }
});
