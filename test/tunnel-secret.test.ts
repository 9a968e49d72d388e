// `poke tunnel --client-id` takes the client secret from POKE_CLIENT_SECRET or standard input
// (`--client-secret -`), so it never appears in the process's command line (`ps`, /proc/<pid>/cmdline).
// The secret is shown to be the one used: the CLI authenticates with it at the local authorization
// server's token endpoint (a wrong or missing secret is refused there as invalid_client, or never sent).
import fs from "node:fs";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startOAuthServer, type OAuthFixture } from "./fixtures/oauth-servers";
import {
  cliEnv,
  LiveCli,
  runCli,
  startApp,
  tempConfigHome,
  writeLogin,
  type App,
  type SeededUser,
} from "./cli-helpers";

const SECRET = `s3cret-${Math.random().toString(36).slice(2)}`;

let app: App;
const running: { close(): Promise<unknown> }[] = [];

beforeAll(async () => {
  app = await startApp(["fromenv", "fromstdin", "wrong"]);
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.close().catch(() => {})));
});

afterAll(async () => {
  await app?.stop();
});

async function localOAuthServer(): Promise<OAuthFixture> {
  const oauth = await startOAuthServer({
    dcr: false,
    consent: "auto",
    clients: [
      { client_id: "poke-cli", client_secret: SECRET, token_endpoint_auth_method: "client_secret_post" },
    ],
  });
  running.push(oauth);
  return oauth;
}

function tunnel(
  user: SeededUser,
  args: string[],
  extraEnv: Record<string, string>,
  stdin: "ignore" | "pipe",
) {
  const env = cliEnv(tempConfigHome(), { POKE_TUNNEL_HEARTBEAT_MS: "1000", ...extraEnv });
  writeLogin(env.XDG_CONFIG_HOME!, app, user);
  const cli = new LiveCli(["tunnel", ...args], env, stdin);
  running.push({ close: () => cli.stop() });
  return cli;
}

/** The process's own command line, as `ps` shows it to every user of the machine. */
const commandLine = (cli: LiveCli) => fs.readFileSync(`/proc/${cli.child.pid}/cmdline`, "utf8");

/**
 * The CLI authenticated at the local token endpoint as the configured client with the right secret: its
 * probe (client_secret_basic first, refused as the wrong method) ends accepted with client_secret_post.
 */
function usedTheSecret(oauth: OAuthFixture) {
  const last = oauth.tokenLog.at(-1);
  expect(last).toMatchObject({ clientId: "poke-cli", authMethod: "client_secret_post" });
  expect(last!.error).not.toBe("invalid_client");
}

describe("poke tunnel --client-secret", () => {
  it("says in --help where else the secret can come from", async () => {
    const r = await runCli(["tunnel", "--help"], cliEnv(tempConfigHome()));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("POKE_CLIENT_SECRET");
    expect(r.stdout).toMatch(/"-" reads it from standard input/);
  });

  it("takes the secret from POKE_CLIENT_SECRET, keeping it off the command line", async () => {
    const oauth = await localOAuthServer();
    const args = [oauth.mcpUrl, "-n", "from-env", "--client-id", "poke-cli"];
    const cli = tunnel(app.users.fromenv, args, { POKE_CLIENT_SECRET: SECRET }, "ignore");
    await cli.waitFor(/Authorize it at \S+/);
    expect(commandLine(cli)).toContain("from-env");
    expect(commandLine(cli)).not.toContain(SECRET);
    usedTheSecret(oauth);
    expect(cli.stdout + cli.stderr).not.toContain(SECRET);
  });

  it("reads the secret from standard input with --client-secret -", async () => {
    const oauth = await localOAuthServer();
    const args = [oauth.mcpUrl, "-n", "from-stdin", "--client-id", "poke-cli", "--client-secret", "-"];
    const cli = tunnel(app.users.fromstdin, args, {}, "pipe");
    cli.child.stdin!.end(`${SECRET}\n`);
    await cli.waitFor(/Authorize it at \S+/);
    expect(commandLine(cli)).not.toContain(SECRET);
    usedTheSecret(oauth);
    expect(cli.stdout + cli.stderr).not.toContain(SECRET);
  });

  it("a wrong secret is the one sent, and refused (the check above can fail)", async () => {
    const oauth = await localOAuthServer();
    const args = [oauth.mcpUrl, "-n", "wrong", "--client-id", "poke-cli"];
    const cli = tunnel(app.users.wrong, args, { POKE_CLIENT_SECRET: "not-the-secret" }, "ignore");
    await cli.waitFor(/Authorize it at \S+/);
    expect(oauth.tokenLog.length).toBeGreaterThan(0);
    expect(oauth.tokenLog.every((t) => t.error === "invalid_client")).toBe(true);
  });
});
