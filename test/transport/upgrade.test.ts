import { describe, expect, it } from "vitest";
import { SignJWT } from "jose";
import { openRaw, UpgradeRefused, isEvent } from "../helpers/raw-socket.js";
import { startTestNode, TEST_ROOM } from "../helpers/start-test-node.js";
import WebSocket from "ws";

async function refusal(promise: Promise<unknown>): Promise<UpgradeRefused> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UpgradeRefused);
  return error as UpgradeRefused;
}

describe("upgrade authentication", () => {
  it("refuses a missing token with 401 and says how to send one", async () => {
    await using node = await startTestNode();
    const refused = await refusal(openRaw(node.server.roomUrl(TEST_ROOM), undefined));
    expect(refused.status).toBe(401);
    expect(refused.body).toMatch(/Authorization: Bearer/);
  });

  it("refuses a malformed token with 401 without echoing it", async () => {
    await using node = await startTestNode();
    const refused = await refusal(openRaw(node.server.roomUrl(TEST_ROOM), "not-a-jwt-canary-7731"));
    expect(refused.status).toBe(401);
    expect(refused.body).not.toContain("canary-7731");
  });

  it("refuses a token signed with another key", async () => {
    await using node = await startTestNode();
    const forged = await new SignJWT({ room: TEST_ROOM, api: {} })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("mallory")
      .setIssuer("roombus")
      .setAudience("roombus")
      .setIssuedAt()
      .setExpirationTime("1h")
      .sign(new TextEncoder().encode("some-other-secret-of-enough-length-here"));
    expect((await refusal(openRaw(node.server.roomUrl(TEST_ROOM), forged))).status).toBe(401);
  });

  it("refuses an expired token with 401", async () => {
    await using node = await startTestNode();
    const token = await node.token("alice", { now: new Date(Date.now() - 3600_000), ttlSeconds: 60 });
    const refused = await refusal(openRaw(node.server.roomUrl(TEST_ROOM), token));
    expect(refused.status).toBe(401);
    expect(refused.body).toMatch(/expired/);
  });

  it("refuses a token for another room with 403, and accepts a '*' token anywhere", async () => {
    await using node = await startTestNode();
    const other = await node.token("alice", { room: "elsewhere" });
    expect((await refusal(openRaw(node.server.roomUrl(TEST_ROOM), other))).status).toBe(403);
    const any = await node.token("alice", { room: "*" });
    const socket = await openRaw(node.server.roomUrl(TEST_ROOM), any);
    await socket.waitFor(isEvent("room.ready"));
    socket.ws.close();
  });

  it("refuses a bad room name with 400 and an unknown path with 404", async () => {
    await using node = await startTestNode();
    const token = await node.token("alice", { room: "*" });
    expect((await refusal(openRaw(`${node.server.roomUrl("x").slice(0, -1)}-bad%20name`, token))).status).toBe(400);
    expect((await refusal(openRaw(node.server.roomUrl("x").replace("/rooms/", "/nope/"), token))).status).toBe(404);
  });

  it("refuses a browser origin that is neither the server's own nor allowed", async () => {
    await using node = await startTestNode({ ROOMBUS_ALLOWED_ORIGINS: "https://app.example" });
    const token = await node.token("alice");
    const url = node.server.roomUrl(TEST_ROOM);
    const refused = await refusal(openRaw(url, token, { origin: "https://evil.example" }));
    expect(refused.status).toBe(403);
    expect(refused.body).toMatch(/ROOMBUS_ALLOWED_ORIGINS/);
    const allowed = await openRaw(url, token, { origin: "https://app.example" });
    await allowed.waitFor(isEvent("room.ready"));
    allowed.ws.close();
    const same = await openRaw(url, token, { origin: node.server.httpUrl });
    await same.waitFor(isEvent("room.ready"));
    same.ws.close();
  });

  it("accepts the token as a browser subprotocol and answers only roombus.v1", async () => {
    await using node = await startTestNode();
    const token = await node.token("alice");
    const ws = new WebSocket(node.server.roomUrl(TEST_ROOM), ["roombus.v1", `roombus.token.${token}`]);
    const upgradeHeaders = new Promise<Record<string, string | string[] | undefined>>((resolve) =>
      ws.once("upgrade", (response) => resolve(response.headers)),
    );
    await new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
    });
    expect(ws.protocol).toBe("roombus.v1");
    expect(JSON.stringify(await upgradeHeaders)).not.toContain(token);
    ws.close();
  });

  it("sends room.ready before anything else", async () => {
    await using node = await startTestNode();
    const alice = await openRaw(node.server.roomUrl(TEST_ROOM), await node.token("alice"));
    await alice.waitFor(isEvent("room.ready"));
    const bob = await openRaw(node.server.roomUrl(TEST_ROOM), await node.token("bob"));
    // Alice talks to the room while Bob connects; Bob's first frame is still room.ready.
    alice.request(1, "messaging.broadcast", { type: "chat", message: { text: "hi" } });
    await bob.waitFor(isEvent("room.ready"));
    expect(bob.frames[0]).toMatchObject({ t: "evt", ev: "room.ready" });
    alice.ws.close();
    bob.ws.close();
  });
});
