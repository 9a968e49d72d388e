// Sign-in hardening, driven as an attacker would over HTTP against the built app (docs/security.md §25–§27):
// closed sign-up holds for SSO (a real OpenID Connect provider on loopback), failed sign-ins and `poke login`
// starts are throttled per account and per client address, and a signed-out session cookie opens nothing.
// The first part checks the session and sign-up rules in-process, before the app takes the database.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authOptions } from "@/lib/auth/options";
import { createSession, listSessions, touchLiveSession } from "@/lib/data/sessions";
import {
  changePassword,
  checkCredentials,
  setUserRole,
  signUp,
  userForExternalAccount,
} from "@/lib/data/users";
import { getDb } from "@/lib/db";
import { setEnvForProcess } from "@/lib/env";
import { CookieJar, PASSWORD, postForm, signIn, startApp, type App, type SeededUser } from "./cli-helpers";
import { startOidcProvider, type OidcFixture } from "./fixtures/oidc-provider";

const tag = () => Math.random().toString(36).slice(2, 8);

/** The jwt callback next-auth runs on every request carrying a session cookie. */
async function cookieStillWorks(uid: string, sid: string): Promise<boolean> {
  const jwt = authOptions().callbacks!.jwt!;
  try {
    await jwt({ token: { uid, sid }, user: undefined as never, account: null });
    return true;
  } catch {
    return false;
  }
}

describe("sessions and closed sign-up, in the data layer", () => {
  it("a session works until it is revoked by a password change (others only) or a role change (all)", async () => {
    const admin = await signUp({ email: `root-${tag()}@x.test`, password: PASSWORD, name: "" });
    const u = await signUp({ email: `u-${tag()}@x.test`, password: PASSWORD, name: "" });
    const a = await createSession(u.id, { userAgent: "A", ip: "192.0.2.1" });
    const b = await createSession(u.id, { userAgent: "B", ip: "192.0.2.2" });
    expect(await cookieStillWorks(u.id, a.id)).toBe(true);
    expect(await cookieStillWorks(admin.id, a.id)).toBe(false); // a session id is bound to its user
    expect(await cookieStillWorks(u.id, "missing")).toBe(false);

    await changePassword(u, { currentPassword: PASSWORD, newPassword: "another good passphrase" }, a.id);
    expect(await cookieStillWorks(u.id, a.id)).toBe(true);
    expect(await cookieStillWorks(u.id, b.id)).toBe(false);
    expect(await checkCredentials(u.email, "another good passphrase")).not.toBeNull();
    await expect(
      changePassword(u, { currentPassword: "not the password", newPassword: "yet another passphrase" }),
    ).rejects.toMatchObject({ code: "wrong_password" });

    await setUserRole(admin, u.id, "admin");
    expect(await cookieStillWorks(u.id, a.id)).toBe(false);
    expect(await listSessions(u)).toEqual([]);
  });

  it("an expired session is refused, and lastSeenAt is written at most once a minute", async () => {
    const u = await signUp({ email: `seen-${tag()}@x.test`, password: PASSWORD, name: "" });
    const s = await createSession(u.id, {});
    const db = await getDb();
    const before = (await db.session.findUniqueOrThrow({ where: { id: s.id } })).lastSeenAt;
    expect(await touchLiveSession(s.id, u.id)).toBe(true);
    expect((await db.session.findUniqueOrThrow({ where: { id: s.id } })).lastSeenAt).toEqual(before);
    const old = new Date(Date.now() - 5 * 60_000);
    await db.session.update({ where: { id: s.id }, data: { lastSeenAt: old } });
    expect(await touchLiveSession(s.id, u.id)).toBe(true);
    expect(+(await db.session.findUniqueOrThrow({ where: { id: s.id } })).lastSeenAt).toBeGreaterThan(+old);
    await db.session.update({ where: { id: s.id }, data: { expiresAt: new Date(Date.now() - 1000) } });
    expect(await cookieStillWorks(u.id, s.id)).toBe(false);
  });

  it("with sign-up closed, GitHub and OIDC identities make no new account; linked, existing and verified ADMIN_EMAILS do", async () => {
    const owner = await signUp({ email: `owner-${tag()}@x.test`, password: PASSWORD, name: "" });
    const boss = `boss-${tag()}@x.test`;
    setEnvForProcess({ SIGNUP_ENABLED: "false", ADMIN_EMAILS: boss });
    try {
      for (const provider of ["github", "oidc"]) {
        await expect(
          userForExternalAccount({
            provider,
            providerAccountId: `new-${provider}`,
            email: `stranger-${provider}@x.test`,
            emailVerified: true,
          }),
        ).rejects.toMatchObject({ code: "signup_closed", status: 403 });
        const linked = await userForExternalAccount({
          provider,
          providerAccountId: `own-${provider}`,
          email: owner.email,
          emailVerified: true,
        });
        expect(linked.id).toBe(owner.id);
      }
      await expect(
        userForExternalAccount({
          provider: "github",
          providerAccountId: "b0",
          email: boss,
          emailVerified: false,
        }),
      ).rejects.toMatchObject({ code: "signup_closed" });
      const admin = await userForExternalAccount({
        provider: "github",
        providerAccountId: "b1",
        email: boss,
        emailVerified: true,
      });
      expect(admin).toMatchObject({ email: boss, role: "admin" });
      const db = await getDb();
      expect(await db.user.count({ where: { email: { startsWith: "stranger-" } } })).toBe(0);
    } finally {
      setEnvForProcess({ SIGNUP_ENABLED: undefined, ADMIN_EMAILS: undefined });
    }
  });
});

/** A browser's first visit: the CSRF cookie and token. */
async function csrf(app: App, jar: CookieJar): Promise<string> {
  const res = await fetch(`${app.url}/api/auth/csrf`, { headers: { cookie: jar.header() } });
  jar.store(res);
  return ((await res.json()) as { csrfToken: string }).csrfToken;
}

/** A password sign-in as the sign-in form sends it, from `address` (the trusted proxy's X-Forwarded-For). */
async function passwordSignIn(app: App, email: string, password: string, address: string) {
  const jar = new CookieJar();
  const csrfToken = await csrf(app, jar);
  const res = await fetch(`${app.url}/api/auth/callback/credentials`, {
    method: "POST",
    redirect: "manual",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      cookie: jar.header(),
      origin: app.url,
      "x-forwarded-for": address,
    },
    body: new URLSearchParams({ csrfToken, email, password, json: "true" }),
  });
  jar.store(res);
  const { url } = (await res.json()) as { url: string };
  return {
    status: res.status,
    retryAfter: res.headers.get("retry-after"),
    error: new URL(url).searchParams.get("error"),
    signedIn: /session-token=/.test(jar.header()),
  };
}

/**
 * Sign-in through the SSO button: the app redirects to the provider, the person types who they are on the
 * provider's page, and the provider sends the browser back to the app's callback. Returns where the app sends
 * the browser then, and the jar.
 */
async function ssoSignIn(app: App, who: { email: string; sub: string; verified: boolean }) {
  const jar = new CookieJar();
  const csrfToken = await csrf(app, jar);
  const start = await postForm(app, jar, "/api/auth/signin/oidc", {
    csrfToken,
    callbackUrl: `${app.url}/integrations`,
    json: "true",
  });
  jar.store(start);
  const { url: authorize } = (await start.json()) as { url: string };
  const loginPage = await fetch(authorize);
  const requestId = /name="request_id" value="([^"]+)"/.exec(await loginPage.text())?.[1];
  if (!requestId) throw new Error(`the provider showed no login page (${loginPage.status})`);
  const consent = await fetch(new URL("/authorize", authorize), {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      request_id: requestId,
      email: who.email,
      sub: who.sub,
      ...(who.verified ? { email_verified: "true" } : {}),
    }),
  });
  const callback = consent.headers.get("location");
  if (consent.status !== 302 || !callback) throw new Error(`the provider answered ${consent.status}`);
  const back = await fetch(callback, { redirect: "manual", headers: { cookie: jar.header() } });
  await back.body?.cancel();
  jar.store(back);
  return { location: new URL(back.headers.get("location") ?? "", app.url), jar };
}

async function sessionEmail(app: App, jar: CookieJar): Promise<string | undefined> {
  const res = await fetch(`${app.url}/api/auth/session`, { headers: { cookie: jar.header() } });
  return ((await res.json()) as { user?: { email?: string } }).user?.email;
}

describe("the built app, attacked over HTTP", () => {
  let oidc: OidcFixture;
  let app: App;
  let admin: string;
  let root: SeededUser;

  beforeAll(async () => {
    oidc = await startOidcProvider();
    admin = `boss-${tag()}@sso.test`;
    // An admin account of its own (this file's database already has a first user).
    const r = await signUp({ email: `root-${tag()}@x.test`, password: PASSWORD, name: "root" });
    await (await getDb()).user.update({ where: { id: r.id }, data: { role: "admin" } });
    root = { id: r.id, email: r.email, token: "", publicId: "" };
    app = await startApp(["member", "victim", "bystander", "sessions", "burst"], {
      SIGNUP_ENABLED: "false",
      OIDC_ISSUER: oidc.issuer,
      OIDC_CLIENT_ID: oidc.clientId,
      OIDC_CLIENT_SECRET: oidc.clientSecret,
      OIDC_NAME: "Acme SSO",
      ADMIN_EMAILS: admin,
      // The test plays a reverse proxy on loopback, so each test can speak from its own client address.
      TRUSTED_PROXIES: "127.0.0.1,::1",
    });
  }, 300_000);

  afterAll(async () => {
    await app?.stop();
    await oidc?.close();
  });

  it("closed sign-up: an unknown SSO identity gets no account and a clear page message", async () => {
    const stranger = { email: `stranger-${tag()}@sso.test`, sub: `s-${tag()}`, verified: true };
    const { location, jar } = await ssoSignIn(app, stranger);
    expect(location.pathname).toBe("/sign-in");
    expect(location.searchParams.get("error")).toBe("SignupClosed");
    expect(await sessionEmail(app, jar)).toBeUndefined();
    const page = await fetch(location);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("Sign-up is closed on this server");
    // The provider did vouch for the identity: the refusal is the app's.
    expect(oidc.issued.map((i) => i.email)).toContain(stranger.email);
    // Asking again changes nothing, and the admin's user list does not know the email.
    expect((await ssoSignIn(app, stranger)).location.searchParams.get("error")).toBe("SignupClosed");
    const adminPage = await fetch(`${app.url}/admin`, {
      headers: { cookie: (await signIn(app, root)).header() },
    });
    const html = await adminPage.text();
    expect(html).toContain(app.users.member.email);
    expect(html).not.toContain(stranger.email);
  });

  it("closed sign-up still lets existing accounts (by verified email) and verified ADMIN_EMAILS in", async () => {
    const member = app.users.member;
    const sub = `m-${tag()}`;
    const first = await ssoSignIn(app, { email: member.email, sub, verified: true });
    expect(first.location.pathname).toBe("/integrations");
    expect(await sessionEmail(app, first.jar)).toBe(member.email);
    const again = await ssoSignIn(app, { email: member.email, sub, verified: true });
    expect(await sessionEmail(app, again.jar)).toBe(member.email);

    // Someone else's identity claiming the member's email without verification gets nothing.
    const claim = await ssoSignIn(app, { email: member.email, sub: `x-${tag()}`, verified: false });
    expect(claim.location.pathname).toBe("/sign-in");
    expect(await sessionEmail(app, claim.jar)).toBeUndefined();

    // An unverified claim on the admin email makes no account; the verified one does, as admin.
    const fake = await ssoSignIn(app, { email: admin, sub: `f-${tag()}`, verified: false });
    expect(fake.location.searchParams.get("error")).toBe("SignupClosed");
    const boss = await ssoSignIn(app, { email: admin, sub: `b-${tag()}`, verified: true });
    expect(await sessionEmail(app, boss.jar)).toBe(admin);
    const adminPage = await fetch(`${app.url}/admin`, { headers: { cookie: boss.jar.header() } });
    expect(adminPage.status).toBe(200);
  });

  it("per account: 5 wrong passwords, then even the right one waits a short while; success clears the count", async () => {
    const victim = app.users.victim;
    const from = "198.51.100.10";
    for (let i = 0; i < 5; i++) {
      const r = await passwordSignIn(app, victim.email, `wrong password ${i}`, from);
      expect({ i, status: r.status, error: r.error }).toEqual({ i, status: 401, error: "CredentialsSignin" });
    }
    // From anywhere: the block is the account's. The message and Retry-After say how long.
    const blocked = await passwordSignIn(app, victim.email, PASSWORD, "198.51.100.11");
    expect(blocked.status).toBe(429);
    expect(blocked.signedIn).toBe(false);
    const wait = Number(blocked.retryAfter);
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(30);
    expect(blocked.error).toBe(`TooManyAttempts:${wait}`);
    const page = await fetch(`${app.url}/sign-in?error=${encodeURIComponent(blocked.error!)}`);
    expect(await page.text()).toContain(`Too many attempts, try again in ${wait} s.`);

    // The real person gets in once the short block is over (polled: no fixed sleep).
    const deadline = Date.now() + 120_000;
    let ok = await passwordSignIn(app, victim.email, PASSWORD, from);
    while (!ok.signedIn) {
      expect(ok.status).toBe(429);
      if (Date.now() > deadline) throw new Error("still blocked after two minutes");
      await new Promise((r) => setTimeout(r, 1000));
      ok = await passwordSignIn(app, victim.email, PASSWORD, from);
    }
    // …and that success cleared the account's count: four more mistakes are just mistakes.
    for (let i = 0; i < 4; i++)
      expect((await passwordSignIn(app, victim.email, `wrong again ${i}`, from)).status).toBe(401);
    expect((await passwordSignIn(app, victim.email, PASSWORD, from)).signedIn).toBe(true);
  });

  it("a burst of 40 parallel guesses at one account gets exactly 5 password checks", async () => {
    const burst = app.users.burst;
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => passwordSignIn(app, burst.email, `guess ${i}`, "198.51.100.20")),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 401)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(35);
  });

  it("per address: 20 failures over many accounts block that address, not others", async () => {
    const from = "203.0.113.30";
    for (let i = 0; i < 20; i++) {
      const r = await passwordSignIn(app, `nobody-${i}-${tag()}@x.test`, "wrong password", from);
      expect({ i, status: r.status }).toEqual({ i, status: 401 });
    }
    const blocked = await passwordSignIn(app, app.users.bystander.email, PASSWORD, from);
    expect(blocked.status).toBe(429);
    expect(Number(blocked.retryAfter)).toBeGreaterThan(0);
    expect(Number(blocked.retryAfter)).toBeLessThanOrEqual(60);
    // Rotating the part of X-Forwarded-For the client writes doesn't make a new address.
    const spoofed = await passwordSignIn(
      app,
      app.users.bystander.email,
      PASSWORD,
      `10.0.0.${tag().length}, ${from}`,
    );
    expect(spoofed.status).toBe(429);
    // The same person from another address signs in.
    expect((await passwordSignIn(app, app.users.bystander.email, PASSWORD, "203.0.113.31")).signedIn).toBe(
      true,
    );
  });

  it("POST /api/cli/login: 10 starts a minute per address, then 429 with Retry-After", async () => {
    const start = (from: string) =>
      fetch(`${app.url}/api/cli/login`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-forwarded-for": from },
        body: JSON.stringify({ host: "laptop" }),
      });
    for (let i = 0; i < 10; i++) {
      const r = await start("198.51.100.40");
      await r.body?.cancel();
      expect({ i, status: r.status }).toEqual({ i, status: 201 });
    }
    const refused = await start("198.51.100.40");
    expect(refused.status).toBe(429);
    const wait = Number(refused.headers.get("retry-after"));
    expect(wait).toBeGreaterThan(0);
    expect(await refused.json()).toEqual({
      error: { code: "rate_limited", message: `Too many attempts, try again in ${wait} s.` },
    });
    const other = await start("198.51.100.41");
    await other.body?.cancel();
    expect(other.status).toBe(201);
  });

  it("after sign-out, the old session cookie opens nothing", async () => {
    const user = app.users.sessions;
    const jar = await signIn(app, user);
    const settings = await fetch(`${app.url}/settings`, {
      redirect: "manual",
      headers: { cookie: jar.header() },
    });
    expect(settings.status).toBe(200);
    await settings.body?.cancel();
    const stolen = jar.header();

    const csrfToken = await csrf(app, jar);
    const out = await postForm(app, jar, "/api/auth/signout", { csrfToken, json: "true" });
    await out.body?.cancel();
    expect(out.status).toBe(200);

    // The attacker replays the cookie captured before sign-out.
    const replay = await fetch(`${app.url}/settings`, { redirect: "manual", headers: { cookie: stolen } });
    await replay.body?.cancel();
    expect(replay.status).toBe(307);
    expect(new URL(replay.headers.get("location")!, app.url).pathname).toBe("/sign-in");
    const session = await fetch(`${app.url}/api/auth/session`, { headers: { cookie: stolen } });
    expect(await session.json()).toEqual({});
    // Signing in again works as before.
    expect(await sessionEmail(app, await signIn(app, user))).toBe(user.email);
  });
});
