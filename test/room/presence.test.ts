import { describe, expect, it, vi } from "vitest";
import { startTestNode, TEST_ROOM } from "../helpers/start-test-node.js";

describe("presence", () => {
  it("shows three participants to each other, with join and leave events", async () => {
    await using node = await startTestNode();
    const alice = await node.connect("alice", { role: "agent" });
    const bobJoined = alice.next("participant.joined");
    const bob = await node.connect("bob");
    expect((await bobJoined).participant).toEqual({ id: bob.participantId, identity: "bob", role: "user", attributes: {} });
    const carolSeenByAlice = alice.next("participant.joined");
    const carolSeenByBob = bob.next("participant.joined");
    const carol = await node.connect("carol");
    expect((await carolSeenByAlice).participant.identity).toBe("carol");
    expect((await carolSeenByBob).participant.identity).toBe("carol");

    const ids = (list: { id: string }[]) => list.map((p) => p.id).sort();
    const everyone = [alice.participantId, bob.participantId, carol.participantId].sort();
    for (const client of [alice, bob, carol]) {
      expect(ids(await client.listParticipants())).toEqual(everyone);
      expect([...client.participants.keys()].sort()).toEqual(everyone);
    }

    const leftAlice = alice.next("participant.left");
    const leftCarol = carol.next("participant.left");
    await bob.close();
    expect(await leftAlice).toEqual({ participant_id: bob.participantId, reason: "closed" });
    expect((await leftCarol).participant_id).toBe(bob.participantId);
    expect(ids(await alice.listParticipants())).toEqual([alice.participantId, carol.participantId].sort());
  });

  it("keeps rooms apart", async () => {
    await using node = await startTestNode();
    const alice = await node.connect("alice");
    const stranger = await node.connect("stranger", { room: "other-room" });
    expect((await alice.listParticipants()).map((p) => p.identity)).toEqual(["alice"]);
    expect((await stranger.listParticipants()).map((p) => p.identity)).toEqual(["stranger"]);
  });

  it("announces attribute changes, where null removes a key", async () => {
    await using node = await startTestNode();
    const alice = await node.connect("alice");
    const bob = await node.connect("bob");
    const first = bob.next("participant.attributes");
    await alice.setAttributes({ status: "busy", color: "blue" });
    expect(await first).toEqual({ participant_id: alice.participantId, attributes: { status: "busy", color: "blue" } });
    const second = bob.next("participant.attributes");
    await alice.setAttributes({ color: null });
    expect((await second).attributes).toEqual({ status: "busy" });
    const listed = (await bob.listParticipants()).find((p) => p.id === alice.participantId);
    expect(listed?.attributes).toEqual({ status: "busy" });
    await vi.waitFor(() => expect(bob.participants.get(alice.participantId)?.attributes).toEqual({ status: "busy" }));
  });

  it("caps a participant's attributes in total, not only per call", async () => {
    await using node = await startTestNode();
    const alice = await node.connect("alice");
    const batch = (from: number) => Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${from + i}`, i]));
    await alice.setAttributes(batch(0));
    await expect(alice.setAttributes(batch(40))).rejects.toMatchObject({ code: 1012 });
    expect(Object.keys((await alice.listParticipants())[0]!.attributes)).toHaveLength(40);
  });

  it("keeps an attribute change in order with the sender's next message", async () => {
    await using node = await startTestNode();
    const alice = await node.connect("alice");
    const bob = await node.connect("bob");
    const order: string[] = [];
    bob.on("participant.attributes", () => order.push("attributes"));
    bob.on("messaging.message", () => order.push("message"));
    const done = bob.next("messaging.message");
    await Promise.all([alice.setAttributes({ status: "away" }), alice.broadcast("after", {})]);
    await done;
    expect(order).toEqual(["attributes", "message"]);
  });

  it("lets two sessions of one identity be two participants", async () => {
    await using node = await startTestNode();
    const first = await node.connect("alice");
    const second = await node.connect("alice");
    expect(first.participantId).not.toBe(second.participantId);
    expect((await first.listParticipants()).filter((p) => p.identity === "alice")).toHaveLength(2);
    expect(TEST_ROOM).toBe(first.room);
  });
});
