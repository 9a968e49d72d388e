// `poke tunnel --client-id/--client-secret` against a local server whose authorization server has no
// dynamic registration: the CLI discovers the issuer, the app stores the pre-registered credentials bound
// to it and reports that authorization is needed (the person completes it on the integration page).
import { afterAll, beforeAll, expect, it } from "vitest";
import { startOAuthServer, type OAuthFixture } from "./fixtures/oauth-servers";
import { apiCall, cliEnv, LiveCli, startApp, tempConfigHome, writeLogin, type App } from "./cli-helpers";

let app: App;
let oauth: OAuthFixture;

beforeAll(async () => {
  app = await startApp(["alice"]);
  oauth = await startOAuthServer({
    dcr: false,
    clients: [
      {
        client_id: "poke-cli",
        client_secret: "cli-secret",
        token_endpoint_auth_method: "client_secret_post",
      },
    ],
  });
}, 90_000);

afterAll(async () => {
  await app?.stop();
  await oauth?.close();
});

it("binds CLI-supplied client credentials to the local issuer and asks for authorization", async () => {
  const env = cliEnv(tempConfigHome());
  writeLogin(env.XDG_CONFIG_HOME!, app, app.users.alice);
  const cli = new LiveCli(
    ["tunnel", oauth.mcpUrl, "-n", "local-oauth", "--client-id", "poke-cli", "--client-secret", "cli-secret"],
    env,
  );
  await cli.waitFor(new RegExp(`Local authorization server: ${oauth.issuer.replace(/[.]/g, "\\.")}`));
  const [, link] = await cli.waitFor(/Authorize it at (\S+) \(click Connect\)/);
  expect(cli.stdout).toMatch(/requires authorization/);
  const r = await apiCall<{ integrations: { id: string; name: string; status: string }[] }>(
    app,
    app.users.alice,
    "GET",
    "/api/v1/integrations",
  );
  const integ = r.data.integrations.find((i) => i.name === "local-oauth")!;
  expect(integ.status).toBe("needs_auth");
  expect(link).toBe(`${app.url}/integrations/${integ.id}`);
  // The secret never shows up in the CLI's output or the API.
  expect(cli.stdout).not.toContain("cli-secret");
  expect(JSON.stringify(r.data)).not.toContain("cli-secret");
  // No dynamic registration was attempted (the AS has none, and the credentials were supplied).
  expect(oauth.stats.registrations).toBe(0);
  await cli.stop();
}, 60_000);
