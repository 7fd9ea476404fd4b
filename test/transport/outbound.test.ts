import { describe, expect, it } from "vitest";
import type { ServerFrame } from "../../src/protocol/frames.js";
import { Fanout } from "../../src/room/local-participant.js";
import { encodeBinaryFrame, framedForFanout } from "../../src/transport/outbound.js";
import { isEvent, isResponse, openRaw, type RawSocket } from "../helpers/raw-socket.js";
import { startTestNode, TEST_ROOM } from "../helpers/start-test-node.js";

describe("one frame for a broadcast's receivers", () => {
  it("frames a binary message as RFC 6455 §5.2 says a server does, for each length encoding", () => {
    const cases: [length: number, header: number[]][] = [
      [0, [0x82, 0]],
      [125, [0x82, 125]],
      [126, [0x82, 126, 0, 126]],
      [0xffff, [0x82, 126, 0xff, 0xff]],
      [0x1_0000, [0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]],
      [70_000, [0x82, 127, 0, 0, 0, 0, 0, 0x01, 0x11, 0x70]],
    ];
    for (const [length, header] of cases) {
      const payload = Buffer.alloc(length, 0x61);
      const frame = encodeBinaryFrame(payload);
      expect([...frame.subarray(0, header.length)]).toEqual(header);
      expect(frame.length).toBe(header.length + length);
      expect(frame.subarray(header.length).equals(payload)).toBe(true);
    }
  });

  it("frames a fan-out's payload once, from its second receiver on, and never a plain send's", () => {
    const payload = Buffer.from("first");
    const fanout = new Fanout();
    expect(framedForFanout(payload, fanout)).toBeUndefined();
    const framed = framedForFanout(payload, fanout);
    expect(framed?.equals(encodeBinaryFrame(payload))).toBe(true);
    expect(framedForFanout(payload, fanout)).toBe(framed);
    expect(fanout.receivers).toBe(3);
    // A plain send, even of the same bytes, is framed by ws; another fan-out starts over.
    expect(framedForFanout(payload, undefined)).toBeUndefined();
    expect(framedForFanout(payload, new Fanout())).toBeUndefined();
  });

  it("delivers every broadcast intact and in order with the sender's direct messages, to every receiver", async () => {
    await using node = await startTestNode();
    const url = node.server.roomUrl(TEST_ROOM);
    const receivers: RawSocket[] = [];
    for (const identity of ["r1", "r2", "r3", "r4"]) {
      const socket = await openRaw(url, await node.token(identity));
      await socket.waitFor(isEvent("room.ready"));
      receivers.push(socket);
    }
    const sender = await openRaw(url, await node.token("sender"));
    const ready = await sender.waitFor(isEvent("room.ready"));
    const participants = ready.t === "evt" ? (ready.data.participants as { id: string; identity: string }[]) : [];
    const directId = participants.find((participant) => participant.identity === "r2")!.id;

    // Sizes that take each of the three length encodings; a direct message to r2 after every broadcast.
    const sizes = [10, 200, 70_000, 5, 65_535, 126, 1];
    let id = 0;
    for (const [index, size] of sizes.entries()) {
      sender.request(++id, "messaging.broadcast", { type: "bulk", message: { index, body: "b".repeat(size) } });
      sender.request(++id, "messaging.send", { to_participant_id: directId, type: "direct", message: { index } });
    }
    await sender.waitFor(isResponse(id));

    const label = (frame: ServerFrame): string | undefined =>
      frame.t === "evt" && frame.ev === "messaging.message"
        ? `${String(frame.data.type)} ${(frame.data.message as { index: number }).index}`
        : undefined;
    const broadcasts = sizes.map((_size, index) => `bulk ${index}`);
    const withDirect = sizes.flatMap((_size, index) => [`bulk ${index}`, `direct ${index}`]);
    for (const [position, receiver] of receivers.entries()) {
      const expected = position === 1 ? withDirect : broadcasts;
      await receiver.waitFor((frame) => label(frame) === expected[expected.length - 1]);
      expect(receiver.frames.map(label).filter((text) => text !== undefined)).toEqual(expected);
      for (const frame of receiver.frames) {
        if (frame.t !== "evt" || frame.data.type !== "bulk") continue;
        const message = frame.data.message as { index: number; body: string };
        expect(message.body).toBe("b".repeat(sizes[message.index]!));
      }
    }
    for (const socket of [...receivers, sender]) socket.ws.close();
  });
});
