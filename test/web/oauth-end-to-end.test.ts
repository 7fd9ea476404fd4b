/**
 * The whole OAuth story as a user lives it: the CLI asks, the person approves in headless Chromium at a real
 * authorization server (oidc-provider), the CLI prints the token; once that token has expired, an offline fetch
 * returns a refreshed one; the page lists the authorization and can revoke it.
 */
import { describe, expect, it } from "vitest";
import { chromiumPath, launchBrowser } from "../helpers/browser.js";
import { assertBuilt, roomEnv, startCli } from "../helpers/cli-process.js";
import { APPROVE_BUTTON_TEXT, startOidcProvider } from "../helpers/oauth-server.js";
import { startTestNode } from "../helpers/start-test-node.js";

describe.skipIf(chromiumPath === undefined)("OAuth end to end in headless Chromium", () => {
  it("CLI asks, the page approves at the provider, the CLI prints the token, and refresh works after expiry", async () => {
    assertBuilt();
    await using node = await startTestNode();
    const callback = `${node.server.httpUrl}/oauth/callback`;
    await using oidc = await startOidcProvider({
      clients: [{ client_id: "app", client_secret: "s3cret-app", redirect_uris: [callback], token_endpoint_auth_method: "client_secret_post" }],
      accessTokenTtlSeconds: 2,
    });
    await using browser = await launchBrowser();
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${node.server.httpUrl}/#token=${await node.token("person", { api: ["secrets"] })}`);
    await page.getByText("Connected as person").waitFor();

    const observer = await node.connect("observer");
    await expect.poll(() => [...observer.participants.values()].some((p) => p.identity === "person")).toBe(true);
    const person = [...observer.participants.values()].find((p) => p.identity === "person")!;

    const cli = startCli(
      [
        "room", "secret", "oauth", "--room", observer.room, "--from-participant-id", person.id,
        "--client-id", "app", "--client-secret", "s3cret-app",
        "--authorization-endpoint", oidc.authorizationEndpoint, "--token-endpoint", oidc.tokenEndpoint,
        "--scopes", "read", "--timeout", "60",
      ],
      await roomEnv(node, "agent", ["secrets"]),
    );
    await cli.stderr.next(/waiting up to 60 s/);

    const card = page.locator("li.request[data-kind=oauth]");
    await card.getByText("agent asks you to authorize an app").waitFor();
    expect(await card.locator(".request-client").textContent()).toBe("app");
    expect(await card.locator(".request-scopes").textContent()).toBe("read");
    const [authorizationTab] = await Promise.all([context.waitForEvent("page"), card.getByRole("link", { name: "Review and authorize" }).click()]);
    await authorizationTab.getByRole("button", { name: APPROVE_BUTTON_TEXT }).click();
    await authorizationTab.getByText("Authorization complete").waitFor();
    expect(new URL(authorizationTab.url()).pathname).toBe("/oauth/callback");

    const tokenLine = await cli.stdout.next(/\S/);
    expect(await cli.exited).toBe(0);
    expect(await oidc.isAccessTokenActive(tokenLine.trim())).toBe(true);
    await card.waitFor({ state: "detached" });
    await page.getByText("Authorization complete.").waitFor();

    // The token lives 2 s. Once the provider no longer accepts it, the agent's offline fetch refreshes it.
    await expect.poll(() => oidc.isAccessTokenActive(tokenLine.trim()), { timeout: 10_000, interval: 250 }).toBe(false);
    const agent = await node.connect("agent", { api: ["secrets"] });
    const client = {
      client_id: "app",
      client_secret: "s3cret-app",
      authorization_endpoint: oidc.authorizationEndpoint,
      token_endpoint: oidc.tokenEndpoint,
      scopes: ["read"],
    };
    const refreshed = await agent.secrets.getOfflineOAuthToken({ oauth: client });
    expect(refreshed!.access_token).not.toBe(tokenLine.trim());
    expect(await oidc.isAccessTokenActive(refreshed!.access_token)).toBe(true);
    expect(oidc.countTokenRequests("refresh_token")).toBe(1);

    // The person sees what they authorized, and revokes it.
    await page.goto(`${node.server.httpUrl}/#token=${await node.token("person", { api: ["secrets"] })}`);
    const authorization = page.locator("#credential-list li", { hasText: "you authorized it for agent" });
    await authorization.waitFor();
    await authorization.getByRole("button", { name: /Revoke/ }).click();
    await page.getByText(/^Revoked app/).waitFor();
    expect(await agent.secrets.getOfflineOAuthToken({ oauth: client })).toBeNull();
  });
});
