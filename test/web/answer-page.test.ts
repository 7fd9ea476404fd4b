import { describe, expect, it } from "vitest";
import { chromiumPath, launchBrowser } from "../helpers/browser.js";
import { startTestNode } from "../helpers/start-test-node.js";

describe.skipIf(chromiumPath === undefined)("the answer page in headless Chromium", () => {
  it("shows an incoming secret request and sends the typed value to the agent", async () => {
    await using node = await startTestNode();
    await using browser = await launchBrowser();
    const agent = await node.connect("agent", { role: "agent", api: ["secrets"] });
    const page = await browser.newPage();
    const personToken = await node.token("person", { api: ["secrets"] });
    await page.goto(`${node.server.httpUrl}/#token=${personToken}`);
    await page.getByText("Connected as person").waitFor();
    // The token left the address bar as soon as the page read it.
    expect(page.url()).toBe(`${node.server.httpUrl}/`);
    await page.getByText("agent", { exact: false }).first().waitFor();
    const person = [...agent.participants.values()].find((p) => p.identity === "person")!;

    const answer = agent.secrets.requestSecret({
      participant_id: person.id,
      url: "secret://github/token",
      type: "text/plain",
      prompt: "A GitHub token with repo scope",
    });
    const card = page.locator("li.request");
    await card.getByText("agent asks you for a secret").waitFor();
    await expect.poll(() => card.locator(".request-url").textContent()).toBe("secret://github/token");
    expect(await card.locator(".request-prompt").textContent()).toBe("A GitHub token with repo scope");
    expect(await card.locator(".request-time").textContent()).toMatch(/min|s$/);
    const input = card.getByLabel("Value");
    expect(await input.getAttribute("type")).toBe("password");
    await input.fill("ghp_typed_in_the_browser");
    await card.getByRole("button", { name: "Provide" }).click();

    const result = await answer;
    expect(Buffer.from(result.data).toString()).toBe("ghp_typed_in_the_browser");
    await card.waitFor({ state: "detached" });
    await page.getByText("Sent to agent.").waitFor();
  });

  it("rejects a request from the page", async () => {
    await using node = await startTestNode();
    await using browser = await launchBrowser();
    const agent = await node.connect("agent", { api: ["secrets"] });
    const page = await browser.newPage();
    await page.goto(`${node.server.httpUrl}/`);
    await page.getByLabel("Your token").fill(await node.token("person", { api: ["secrets"] }));
    await page.getByRole("button", { name: "Join" }).click();
    await page.getByText("Connected as person").waitFor();
    const person = await waitForIdentity(agent, "person");
    const answer = agent.secrets.requestSecret({ participant_id: person, url: "secret://db" }).catch((e: unknown) => e);
    await page.getByRole("button", { name: "Reject" }).click();
    expect(await answer).toMatchObject({ code: 1001 });
    await page.getByText("Declined the request from agent.").waitFor();
  });

  it("closes the prompt when the request is cancelled or expires", async () => {
    await using node = await startTestNode();
    await using browser = await launchBrowser();
    const agent = await node.connect("agent", { api: ["secrets"] });
    const page = await browser.newPage();
    await page.goto(`${node.server.httpUrl}/#token=${await node.token("person", { api: ["secrets"] })}`);
    await page.getByText("Connected as person").waitFor();
    const person = await waitForIdentity(agent, "person");
    const expired = agent.secrets.requestSecret({ participant_id: person, url: "secret://short", timeout_ms: 1500 }).catch((e: unknown) => e);
    await page.locator("li.request").waitFor();
    expect(await expired).toMatchObject({ code: 1009 });
    await page.locator("li.request").waitFor({ state: "detached" });
    await page.getByText("A request expired before it was answered.").waitFor();

    // The requester leaving withdraws the request.
    const leaving = await node.connect("leaving-agent", { api: ["secrets"] });
    void leaving.secrets.requestSecret({ participant_id: person, url: "secret://gone" }).catch(() => undefined);
    await page.locator("li.request").waitFor();
    await leaving.close();
    await page.locator("li.request").waitFor({ state: "detached" });
    await page.getByText("the participant who asked left").waitFor();
  });
});

async function waitForIdentity(client: { participants: ReadonlyMap<string, { id: string; identity: string }> }, identity: string) {
  await expect.poll(() => [...client.participants.values()].some((p) => p.identity === identity)).toBe(true);
  return [...client.participants.values()].find((p) => p.identity === identity)!.id;
}
