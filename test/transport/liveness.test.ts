import { describe, expect, it } from "vitest";
import { decodeServerFrame, type ServerFrame } from "../../src/protocol/frames.js";
import { isEvent, isResponse, openRaw } from "../helpers/raw-socket.js";
import { startTestNode, TEST_ROOM } from "../helpers/start-test-node.js";

describe("heartbeats", () => {
  it("closes with 4408 a client that never answers pings", async () => {
    await using node = await startTestNode({ ROOMBUS_HEARTBEAT_MS: "150" });
    const silent = await openRaw(node.server.roomUrl(TEST_ROOM), await node.token("silent"), { autoPong: false });
    const healthy = await openRaw(node.server.roomUrl(TEST_ROOM), await node.token("healthy"));
    await silent.waitFor(isEvent("room.ready"));
    expect((await silent.closed).code).toBe(4408);
    const left = await healthy.waitFor(isEvent("participant.left"));
    expect(left).toMatchObject({ data: { reason: "timeout" } });
    expect(healthy.ws.readyState).toBe(healthy.ws.OPEN);
    healthy.ws.close();
  });
});

describe("token expiry", () => {
  it("closes the socket with 4401 when its token expires", async () => {
    await using node = await startTestNode();
    const socket = await openRaw(node.server.roomUrl(TEST_ROOM), await node.token("brief", { ttlSeconds: 1 }));
    await socket.waitFor(isEvent("room.ready"));
    expect((await socket.closed).code).toBe(4401);
  });
});

describe("revocation", () => {
  it("closes every socket of a revoked jti with 4401 and refuses it afterwards", async () => {
    await using node = await startTestNode();
    const token = await node.token("alice", { jti: "jti-1" });
    const first = await openRaw(node.server.roomUrl(TEST_ROOM), token);
    const second = await openRaw(node.server.roomUrl(TEST_ROOM), token);
    const other = await openRaw(node.server.roomUrl(TEST_ROOM), await node.token("bob", { jti: "jti-2" }));
    await Promise.all([first, second, other].map((s) => s.waitFor(isEvent("room.ready"))));
    await node.server.revoke("jti-1");
    expect((await first.closed).code).toBe(4401);
    expect((await second.closed).code).toBe(4401);
    await expect(openRaw(node.server.roomUrl(TEST_ROOM), token)).rejects.toMatchObject({ status: 401 });
    other.request(1, "room.list_participants", {});
    await other.waitFor(isResponse(1));
    other.ws.close();
  });
});

describe("rate limit", () => {
  it("answers 1011 past the burst, then cuts a client that keeps flooding with 4429", async () => {
    await using node = await startTestNode({ ROOMBUS_RATE_LIMIT: "1", ROOMBUS_RATE_BURST: "20" });
    const socket = await openRaw(node.server.roomUrl(TEST_ROOM), await node.token("flood"));
    await socket.waitFor(isEvent("room.ready"));
    for (let id = 1; id <= 30; id++) socket.request(id, "room.list_participants", {});
    await socket.waitFor(isResponse(30));
    const responses = socket.frames.filter((f) => f.t === "res");
    expect(responses.filter((f) => f.ok)).toHaveLength(20);
    const refused = responses.filter((f) => !f.ok);
    expect(refused.length).toBe(10);
    expect(refused[0]).toMatchObject({ error: { code: 1011, name: "rate_limited" } });
    for (let id = 31; id <= 100 && socket.ws.readyState === socket.ws.OPEN; id++) {
      socket.request(id, "room.list_participants", {});
    }
    expect((await socket.closed).code).toBe(4429);
  });
});

describe("slow consumer", () => {
  it("cuts off a reader that stops reading, and keeps server memory bounded", async () => {
    await using node = await startTestNode({ ROOMBUS_OUTBOUND_BUFFER_BYTES: String(256 * 1024) });
    const url = node.server.roomUrl(TEST_ROOM);
    const stalled = await openRaw(url, await node.token("stalled"));
    await stalled.waitFor(isEvent("room.ready"));
    const watcher = await openRaw(url, await node.token("watcher"));
    const sender = await openRaw(url, await node.token("sender"));
    await sender.waitFor(isEvent("room.ready"));
    // Stop reading: the kernel buffers fill, then the server's outbound buffer for this socket grows.
    stalled.ws.pause();

    const chunk = "x".repeat(32 * 1024);
    const external = () => process.memoryUsage().arrayBuffers;
    const before = external();
    let peak = before;
    let sent = 0;
    let left: ServerFrame | undefined;
    watcher.ws.on("message", (data) => {
      const frame = decodeServerFrame(data as Buffer);
      if (frame?.t === "evt" && frame.ev === "participant.left") left = frame;
    });
    // Bounded: at most 4,000 messages of 32 KiB (125 MiB) or until the stalled reader is cut off.
    for (let id = 1; id <= 4000 && left === undefined; id++) {
      sender.request(id, "messaging.broadcast", { type: "bulk", message: { chunk } });
      sent++;
      if (id % 20 === 0) {
        await sender.waitFor(isResponse(id), 10_000);
        sender.frames.length = 0;
        watcher.frames.length = 0;
        peak = Math.max(peak, external());
      }
    }
    expect(left).toMatchObject({ data: { reason: "slow_consumer" } });
    expect(sent).toBeLessThan(4000);
    // What the server held for the stalled socket is capped; the growth seen here also includes the test clients.
    expect(peak - before).toBeLessThan(64 * 1024 * 1024);
    const metrics = await (await fetch(`${node.server.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/roombus_socket_closes_total\{reason="slow_consumer"\} 1/);
    watcher.ws.close();
    sender.ws.close();
  });
});

describe("drain", () => {
  it("closes sockets with 1001, reports draining on /readyz and refuses new upgrades with 503", async () => {
    await using node = await startTestNode();
    const url = node.server.roomUrl(TEST_ROOM);
    const socket = await openRaw(url, await node.token("alice"));
    // A peer that does not read keeps the drain waiting (up to its close grace), long enough to look at the node.
    const stalled = await openRaw(url, await node.token("stalled"));
    await Promise.all([socket, stalled].map((s) => s.waitFor(isEvent("room.ready"))));
    expect((await fetch(`${node.server.httpUrl}/readyz`)).status).toBe(200);
    stalled.ws.pause();
    const draining = node.server.drain();
    expect((await socket.closed).code).toBe(1001);
    const ready = await fetch(`${node.server.httpUrl}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: "draining" });
    await expect(openRaw(url, await node.token("late"))).rejects.toMatchObject({ status: 503 });
    await draining;
  });
});

describe("operations endpoints", () => {
  it("serves /healthz, /readyz and Prometheus /metrics", async () => {
    await using node = await startTestNode();
    const health = await fetch(`${node.server.httpUrl}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok" });
    expect((await fetch(`${node.server.httpUrl}/readyz`)).status).toBe(200);
    const socket = await openRaw(node.server.roomUrl(TEST_ROOM), await node.token("alice"));
    await socket.waitFor(isEvent("room.ready"));
    socket.request(1, "room.list_participants", {});
    await socket.waitFor(isResponse(1));
    const metrics = await (await fetch(`${node.server.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/roombus_sessions 1/);
    expect(metrics).toMatch(/roombus_ops_total\{op="room.list_participants",outcome="ok"\} 1/);
    expect(metrics).toMatch(/roombus_op_duration_seconds_bucket/);
    socket.ws.close();
  });
});
