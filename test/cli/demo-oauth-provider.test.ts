/**
 * `roombus demo oauth-provider` as a person meets it: the block it prints, a discovery document that agrees with
 * it, a code flow with PKCE through its Approve page using the printed client, a clean stop on SIGTERM, and the one
 * line it prints when oidc-provider is not installed. Runs the built CLI (`dist/src/cli/main.js`).
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { assertBuilt, runCli, startCli, type LiveCli } from "../helpers/cli-process.js";

const live: LiveCli[] = [];

beforeAll(() => assertBuilt());

afterEach(async () => {
  for (const cli of live.splice(0)) {
    if (cli.child.exitCode === null && cli.child.signalCode === null) {
      cli.child.kill("SIGKILL");
      await cli.exited;
    }
  }
});

/** Starts the provider and returns once its block is printed, with the block's `label  value` rows. */
async function startProvider(args: string[] = [], env: Record<string, string> = {}) {
  const cli = startCli(["demo", "oauth-provider", "--port", "0", ...args], env);
  live.push(cli);
  await cli.stdout.next(/^Ctrl-C stops it\.$/);
  const lines = [...cli.stdout.lines];
  const rows = new Map<string, string[]>();
  let label = "";
  for (const line of lines) {
    const match = /^ {2}(\S.*?)?\s{2,}(\S+(?: \S+)*)$/.exec(line);
    if (match === null || line.startsWith("  roombus ")) continue;
    label = match[1] ?? label;
    rows.set(label, [...(rows.get(label) ?? []), match[2]!]);
  }
  const row = (name: string) => {
    const values = rows.get(name);
    if (values === undefined) throw new Error(`no "${name}" row in:\n${lines.join("\n")}`);
    return values[0]!;
  };
  const example = lines.find((line) => line.trimStart().startsWith("roombus room secret oauth "))?.trim();
  return { cli, lines, rows, row, example };
}

async function stop(cli: LiveCli): Promise<number> {
  cli.child.kill("SIGTERM");
  return cli.exited;
}

function cookieJar() {
  const jar = new Map<string, string>();
  return {
    header: () => [...jar].map(([name, value]) => `${name}=${value}`).join("; "),
    take(response: Response) {
      for (const line of response.headers.getSetCookie()) {
        const pair = line.split(";")[0] ?? "";
        const eq = pair.indexOf("=");
        jar.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
      }
    },
  };
}

describe("roombus demo oauth-provider", () => {
  it("--help exits 0, says it is a demo not for production, and names the fixed account", async () => {
    const result = await runCli(["demo", "oauth-provider", "--help"]);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe("");
    expect(result.stdout).toContain("Usage: roombus demo oauth-provider");
    expect(result.stdout).toMatch(/NOT FOR PRODUCTION/);
    expect(result.stdout).toContain('fixed demo account "demo-user"');
    expect(result.stdout).toMatch(/Example:\n {2}roombus demo oauth-provider/);
  });

  it("`roombus demo --help` lists the demo commands, and `roombus --help` lists demo oauth-provider", async () => {
    const demo = await runCli(["demo", "--help"]);
    expect(demo.code).toBe(0);
    expect(demo.stdout).toMatch(/^ {2}demo oauth-provider\s+\S/m);
    const top = await runCli(["--help"]);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/^ {2}demo oauth-provider\s+\S/m);
  });

  it("refuses usage mistakes with one line and exit 2", async () => {
    for (const args of [
      ["demo"],
      ["demo", "nope"],
      ["demo", "oauth-provider", "--port", "65536"],
      ["demo", "oauth-provider", "--redirect-uri", "not a url"],
      ["demo", "oauth-provider", "--scopes", "openid,read"],
      ["demo", "oauth-provider", "--access-token-ttl", "0"],
      ["demo", "oauth-provider", "--bogus"],
    ]) {
      const result = await runCli(args);
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stdout).toBe("");
      expect(result.stderr.trimEnd().split("\n"), args.join(" ")).toHaveLength(1);
    }
  });

  it("prints a block whose issuer serves a discovery document with the printed endpoints, and stops on SIGTERM", async () => {
    const { cli, lines, row, example } = await startProvider();
    const issuer = row("issuer");
    expect(issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(issuer).not.toMatch(/:0$/);
    expect(lines.join("\n")).toMatch(/NOT FOR PRODUCTION/);
    expect(lines.join("\n")).toContain('fixed demo account "demo-user"');
    expect(row("client id")).toBe("demo-app");
    expect(row("client secret")).toBe("demo-secret");
    expect(row("redirect URI")).toBe("http://127.0.0.1:8765/oauth/callback");
    expect(row("scopes")).toBe("read write");

    const response = await fetch(`${issuer}/.well-known/openid-configuration`);
    expect(response.status).toBe(200);
    const discovery = (await response.json()) as Record<string, unknown>;
    expect(discovery.issuer).toBe(issuer);
    expect(row("authorization endpoint")).toBe(discovery.authorization_endpoint);
    expect(row("token endpoint")).toBe(discovery.token_endpoint);
    expect(discovery.code_challenge_methods_supported).toEqual(["S256"]);

    expect(example).toBe(
      "roombus room secret oauth --room demo --from-participant-id p_... --client-id demo-app --client-secret demo-secret " +
        `--authorization-endpoint ${String(discovery.authorization_endpoint)} --token-endpoint ${String(discovery.token_endpoint)} ` +
        "--scopes read,write",
    );

    expect(await stop(cli)).toBe(0);
    expect(cli.stderr.lines.filter((line) => line !== "")).toEqual([]);
    await expect(fetch(`${issuer}/.well-known/openid-configuration`)).rejects.toThrow();
  });

  it("runs a PKCE code flow for the printed client through the Approve page, with escaped output", async () => {
    const redirect = "http://127.0.0.1:1/oauth/callback";
    const other = "http://localhost:1/other/callback";
    const clientId = `app<b>&"x'`;
    const { cli, row, rows, example } = await startProvider([
      "--client-id", clientId, "--client-secret", "s3cret", "--redirect-uri", redirect, "--redirect-uri", other,
      "--scopes", "repo,read", "--access-token-ttl", "120",
    ]);
    expect(rows.get("redirect URI")).toEqual([redirect, other]);
    expect(example).toContain(`--client-id 'app<b>&"x'\\''' --client-secret s3cret`);
    expect(example).toContain(`--scopes repo,read --redirect-uri ${redirect}`);

    const verifier = randomBytes(32).toString("base64url");
    const state = randomBytes(8).toString("base64url");
    const authorize = new URL(row("authorization endpoint"));
    for (const [key, value] of Object.entries({
      response_type: "code",
      client_id: clientId,
      redirect_uri: redirect,
      scope: "openid repo read",
      state,
      code_challenge: createHash("sha256").update(verifier).digest("base64url"),
      code_challenge_method: "S256",
    })) {
      authorize.searchParams.set(key, value);
    }
    const jar = cookieJar();
    const step = async (url: URL, init: RequestInit = {}) => {
      const response = await fetch(url, { ...init, redirect: "manual", headers: { ...init.headers, cookie: jar.header() } });
      jar.take(response);
      return response;
    };

    const toInteraction = await step(authorize);
    expect(toInteraction.status).toBe(303);
    const interaction = new URL(toInteraction.headers.get("location")!, authorize);
    const page = await step(interaction);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).toContain("app&#60;b&#62;&#38;&#34;x&#39;");
    expect(html).not.toContain(clientId);
    expect(html).toContain("<li><code>openid</code></li><li><code>repo</code></li><li><code>read</code></li>");
    expect(html).toContain('id="approve">Approve</button>');
    expect(html).toContain('id="deny">Deny</button>');
    expect(html).toMatch(/not for production/i);
    expect(html).toContain("demo-user");

    // The form cannot choose another account: every approval is for the demo account.
    const approved = await step(new URL(`${interaction.pathname}/approve`, interaction), {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "accountId=someone-else",
    });
    expect(approved.status).toBe(303);
    const resumed = await step(new URL(approved.headers.get("location")!, interaction));
    const back = new URL(resumed.headers.get("location")!);
    expect(back.origin + back.pathname).toBe(redirect);
    expect(back.searchParams.get("state")).toBe(state);
    expect(back.searchParams.get("iss")).toBe(row("issuer"));

    const token = await fetch(row("token endpoint"), {
      method: "POST",
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code: back.searchParams.get("code")!,
        redirect_uri: redirect,
        code_verifier: verifier,
        client_id: clientId,
        client_secret: "s3cret",
      }),
    });
    expect(token.status).toBe(200);
    const body = (await token.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ token_type: "Bearer", expires_in: 120, scope: "repo read" });
    expect(typeof body.refresh_token).toBe("string");
    const idToken = String(body.id_token).split(".")[1]!;
    expect(JSON.parse(Buffer.from(idToken, "base64url").toString("utf8"))).toMatchObject({ iss: row("issuer"), sub: "demo-user" });

    expect(await stop(cli)).toBe(0);
  });

  it("says in one line that oidc-provider is needed when it is not installed, and exits 1", async () => {
    // A module hook that makes `oidc-provider` unresolvable, as on an install without dev dependencies.
    const dir = await mkdtemp(join(tmpdir(), "roombus-no-oidc-"));
    try {
      await writeFile(
        join(dir, "hooks.mjs"),
        `export async function resolve(specifier, context, next) {
  if (specifier === "oidc-provider" || specifier.startsWith("oidc-provider/")) {
    const error = new Error("Cannot find package '" + specifier + "' imported from " + context.parentURL);
    error.code = "ERR_MODULE_NOT_FOUND";
    throw error;
  }
  return next(specifier, context);
}
`,
      );
      await writeFile(
        join(dir, "register.mjs"),
        `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(join(dir, "hooks.mjs")).href)});\n`,
      );
      const result = await runCli(["demo", "oauth-provider", "--port", "0"], {
        NODE_OPTIONS: `--import=${pathToFileURL(join(dir, "register.mjs")).href}`,
      });
      expect(result.code).toBe(1);
      expect(result.stdout).toBe("");
      expect(result.stderr).toBe("roombus demo oauth-provider needs the oidc-provider package: npm install oidc-provider\n");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
