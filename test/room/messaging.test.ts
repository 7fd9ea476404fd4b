import { describe, expect, it } from "vitest";
import { RoombusError } from "../../src/protocol/errors.js";
import { startTestNode } from "../helpers/start-test-node.js";

describe("messaging.send", () => {
  it("delivers a message with its attachment to one participant only", async () => {
    await using node = await startTestNode();
    const alice = await node.connect("alice");
    const bob = await node.connect("bob");
    const carol = await node.connect("carol");
    let carolGot = 0;
    carol.on("messaging.message", () => carolGot++);
    const received = bob.next("messaging.message");
    await alice.send(bob.participantId, "chat", { text: "hi bob", n: 1 }, new Uint8Array([1, 2, 3]));
    const message = await received;
    expect(message).toMatchObject({
      from_participant_id: alice.participantId,
      from_identity: "alice",
      type: "chat",
      message: { text: "hi bob", n: 1 },
    });
    expect([...message.attachment!]).toEqual([1, 2, 3]);
    // Carol pings herself afterwards; per-sender order means Alice's message would have arrived before this.
    const marker = carol.next("messaging.message");
    await carol.send(carol.participantId, "marker", {});
    await marker;
    expect(carolGot).toBe(1);
  });

  it("answers 1003 for an unknown participant and 1010 for one that left", async () => {
    await using node = await startTestNode();
    const alice = await node.connect("alice");
    const bob = await node.connect("bob");
    const stranger = await node.connect("stranger", { room: "other-room" });
    await expect(alice.send(stranger.participantId, "chat", {})).rejects.toMatchObject({ code: 1003 });
    await expect(alice.send("p_nobody", "chat", {})).rejects.toMatchObject({ code: 1003, name: "RoombusError" });
    const left = alice.next("participant.left");
    await bob.close();
    await left;
    const error = await alice.send(bob.participantId, "chat", {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RoombusError);
    expect(error).toMatchObject({ code: 1010, errorName: "participant_gone" });
  });

  it("needs the messaging grant", async () => {
    await using node = await startTestNode();
    const alice = await node.connect("alice", { api: [] });
    const bob = await node.connect("bob");
    await expect(alice.send(bob.participantId, "chat", {})).rejects.toMatchObject({ code: 1001 });
    await expect(alice.broadcast("chat", {})).rejects.toMatchObject({ code: 1001 });
  });
});

describe("messaging.broadcast", () => {
  it("reaches everyone else in the room, not the sender, not other rooms", async () => {
    await using node = await startTestNode();
    const alice = await node.connect("alice");
    const bob = await node.connect("bob");
    const carol = await node.connect("carol");
    const elsewhere = await node.connect("dave", { room: "other-room" });
    let aliceGot = 0;
    let daveGot = 0;
    alice.on("messaging.message", () => aliceGot++);
    elsewhere.on("messaging.message", () => daveGot++);
    const atBob = bob.next("messaging.message");
    const atCarol = carol.next("messaging.message");
    await alice.broadcast("news", { headline: "hello" });
    expect((await atBob).message).toEqual({ headline: "hello" });
    expect((await atCarol).from_identity).toBe("alice");
    const marker = alice.next("messaging.message");
    await bob.send(alice.participantId, "marker", {});
    await marker;
    expect(aliceGot).toBe(1);
    expect(daveGot).toBe(0);
  });
});

describe("ordering", () => {
  it("delivers messages from one sender to one receiver in the order sent", async () => {
    await using node = await startTestNode();
    const alice = await node.connect("alice");
    const bob = await node.connect("bob");
    const seen: number[] = [];
    const count = 500;
    const done = bob.next("messaging.message", { filter: (m) => m.message.i === count - 1 });
    bob.on("messaging.message", (m) => seen.push(m.message.i as number));
    // Sent without waiting, interleaving sends and broadcasts.
    await Promise.all(
      Array.from({ length: count }, (_, i) =>
        i % 3 === 0 ? alice.broadcast("seq", { i }) : alice.send(bob.participantId, "seq", { i }),
      ),
    );
    await done;
    expect(seen).toEqual(Array.from({ length: count }, (_, i) => i));
  });
});
