import { describe, expect, it } from "vitest";
import { encodeMsgpack } from "../../src/protocol/codec.js";
import { isEvent, isResponse, openRaw } from "../helpers/raw-socket.js";
import { startTestNode, TEST_ROOM } from "../helpers/start-test-node.js";

async function joined(node: Awaited<ReturnType<typeof startTestNode>>, identity = "alice") {
  const socket = await openRaw(node.server.roomUrl(TEST_ROOM), await node.token(identity));
  await socket.waitFor(isEvent("room.ready"));
  return socket;
}

describe("frame handling", () => {
  it("closes with 1003 on a text frame", async () => {
    await using node = await startTestNode();
    const socket = await joined(node);
    socket.ws.send("hello", { binary: false });
    expect((await socket.closed).code).toBe(1003);
  });

  it("closes with 4400 when nothing in the frame can be answered", async () => {
    await using node = await startTestNode();
    const socket = await joined(node);
    socket.ws.send(Buffer.from([0xc1, 0x00, 0xff]));
    expect((await socket.closed).code).toBe(4400);
  });

  it("answers 1002 to a frame with a readable id and a bad shape, without echoing values", async () => {
    await using node = await startTestNode();
    const socket = await joined(node);
    socket.ws.send(encodeMsgpack({ t: "req", id: 7, op: "messaging.send", args: "canary-4411" }));
    socket.ws.send(encodeMsgpack({ t: "nope", id: 8 }));
    socket.request(9, "no.such_op", {});
    socket.request(10, "messaging.send", { to_participant_id: "p", type: "t", message: {}, extra: "canary-4412" });
    for (const id of [7, 8, 9, 10]) {
      const response = await socket.waitFor(isResponse(id));
      expect(response).toMatchObject({ ok: false, error: { code: 1002, name: "invalid_request" } });
      expect(JSON.stringify(response)).not.toContain("canary-44");
    }
    socket.ws.close();
  });

  it("answers 1002 when the id was readable before a refused value (an integer map key inside args)", async () => {
    await using node = await startTestNode();
    const socket = await joined(node);
    // {t:"req", id:5, op:"room.list_participants", args:{1: 2}} — msgpack with a non-string key.
    const op = Buffer.from("room.list_participants");
    socket.ws.send(
      Buffer.concat([
        Buffer.from([0x84, 0xa1, 0x74, 0xa3, 0x72, 0x65, 0x71, 0xa2, 0x69, 0x64, 0x05, 0xa2, 0x6f, 0x70, 0xa0 | op.length]),
        op,
        Buffer.from([0xa4, 0x61, 0x72, 0x67, 0x73, 0x81, 0x01, 0x02]),
      ]),
    );
    expect(await socket.waitFor(isResponse(5))).toMatchObject({ ok: false, error: { code: 1002 } });
    expect(socket.ws.readyState).toBe(socket.ws.OPEN);
    socket.ws.close();
  });

  it("closes with 1009 on a frame over the size limit", async () => {
    await using node = await startTestNode({ ROOMBUS_MAX_FRAME_BYTES: "4096" });
    const socket = await joined(node);
    socket.request(1, "messaging.broadcast", { type: "big", message: { blob: "x".repeat(8000) } });
    expect((await socket.closed).code).toBe(1009);
  });

  it("answers 1012 to a secret value over 64 KiB", async () => {
    await using node = await startTestNode();
    const socket = await openRaw(node.server.roomUrl(TEST_ROOM), await node.token("alice", { api: ["secrets"] }));
    await socket.waitFor(isEvent("room.ready"));
    socket.request(1, "secrets.set_secret", { secret_id: "s", data: Buffer.alloc(64 * 1024 + 1) });
    expect(await socket.waitFor(isResponse(1))).toMatchObject({ ok: false, error: { code: 1012 } });
    socket.ws.close();
  });
});
