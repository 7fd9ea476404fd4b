/**
 * The request_secret exchange (PROTOCOL.md §6 "request_secret") between real participants: an agent (the requester,
 * owner of the result) asks a person, who answers with provide_secret or reject_secret.
 */
import { describe, expect, it } from "vitest";
import type { RoomClient } from "../../src/client/index.js";
import { RoombusError } from "../../src/protocol/errors.js";
import type { OpArgs } from "../../src/protocol/ops.js";
import { startTestNode, type TestNode } from "../helpers/start-test-node.js";

const GITHUB = "https://github.com/settings/tokens";
const TEXT = "text/plain";

const bytes = (value: string) => new TextEncoder().encode(value);
const text = (value: Uint8Array) => Buffer.from(value).toString("utf8");

/** The agent asks, the person answers; both may message (for markers) and use secrets. */
async function agentAndPerson(node: TestNode): Promise<{ agent: RoomClient; person: RoomClient }> {
  const agent = await node.connect("agent", { api: ["secrets", "messaging"], role: "agent" });
  const person = await node.connect("person", { api: ["secrets", "messaging"] });
  return { agent, person };
}

/** Marks a promise as handled now (it is awaited later), so a rejection while the test awaits events is not "unhandled". */
function started<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

/** Starts a request and waits until the asked participant has the event. */
async function ask(
  requester: RoomClient,
  asked: RoomClient,
  args: Omit<OpArgs<"secrets.request_secret">, "participant_id"> = { url: GITHUB, type: TEXT },
) {
  const event = asked.next("secrets.request_secret");
  const call = started(requester.secrets.requestSecret({ participant_id: asked.participantId, ...args }));
  return { call, request: await event };
}

async function codeOf(promise: Promise<unknown>): Promise<number | "ok"> {
  try {
    await promise;
    return "ok";
  } catch (error) {
    if (error instanceof RoombusError) return error.code;
    throw error;
  }
}

/**
 * Resolves once `receiver` has every event `sender` sent it before this call: a message from the same sender is
 * delivered after them (per-sender order, PROTOCOL.md §5).
 */
async function drained(sender: RoomClient, receiver: RoomClient): Promise<void> {
  const marker = `marker-${Math.random()}`;
  const arrived = receiver.next("messaging.message", { filter: (m) => m.type === marker });
  await sender.send(receiver.participantId, marker, {});
  await arrived;
}

describe("request_secret answered with provide_secret", () => {
  it("sends the asked participant the request, and returns the value to the requester", async () => {
    await using node = await startTestNode();
    const { agent, person } = await agentAndPerson(node);
    const before = Date.now();
    const { call, request } = await ask(agent, person, {
      url: GITHUB,
      type: TEXT,
      prompt: "A GitHub token with repo scope, please",
      timeout_ms: 60_000,
    });
    expect(request).toEqual({
      request_id: expect.stringMatching(/^rq_/) as unknown,
      from_participant_id: agent.participantId,
      from_identity: "agent",
      url: GITHUB,
      type: TEXT,
      prompt: "A GitHub token with repo scope, please",
      expires_at: expect.any(Number) as unknown,
    });
    expect(request.expires_at).toBeGreaterThanOrEqual(before + 60_000);
    expect(request.expires_at).toBeLessThanOrEqual(Date.now() + 60_000);

    await expect(person.secrets.provideSecret({ request_id: request.request_id, data: bytes("ghp_abc") })).resolves.toEqual({});
    const answer = await call;
    expect(answer.type).toBe(TEXT);
    expect(text(answer.data)).toBe("ghp_abc");
  });

  it("stores the value for the requester (not the asked person) as a requested secret", async () => {
    await using node = await startTestNode();
    const { agent, person } = await agentAndPerson(node);
    const { call, request } = await ask(agent, person);
    await person.secrets.provideSecret({ request_id: request.request_id, data: bytes("ghp_abc") });
    await call;
    expect((await agent.secrets.listSecrets()).secrets).toEqual([
      { kind: "requested", url: GITHUB, type: TEXT, version: 1, updated_at: expect.any(Number) as unknown },
    ]);
    expect((await person.secrets.listSecrets()).secrets).toEqual([]);
  });

  it("uses the default type when the request names none", async () => {
    await using node = await startTestNode();
    const { agent, person } = await agentAndPerson(node);
    const { call, request } = await ask(agent, person, { url: GITHUB });
    expect(request.type).toBe("application/octet-stream");
    await person.secrets.provideSecret({ request_id: request.request_id, data: bytes("v") });
    expect((await call).type).toBe("application/octet-stream");
    await expect(
      agent.secrets.deleteRequestedSecret({ url: GITHUB, type: "application/octet-stream" }),
    ).resolves.toEqual({ deleted: true });
  });
});

describe("request_secret answered with reject_secret", () => {
  it("fails the requester's call with 1001 and the reason, and stores nothing", async () => {
    await using node = await startTestNode();
    const { agent, person } = await agentAndPerson(node);
    const { call, request } = await ask(agent, person);
    await expect(person.secrets.rejectSecret({ request_id: request.request_id, reason: "not for this task" })).resolves.toEqual({});
    await expect(call).rejects.toMatchObject({
      code: 1001,
      errorName: "permission_denied",
      message: expect.stringContaining("not for this task") as unknown,
    });
    expect((await agent.secrets.listSecrets()).secrets).toEqual([]);
  });

  it("fails with 1001 without a reason too", async () => {
    await using node = await startTestNode();
    const { agent, person } = await agentAndPerson(node);
    const { call, request } = await ask(agent, person);
    await person.secrets.rejectSecret({ request_id: request.request_id });
    await expect(call).rejects.toMatchObject({ code: 1001 });
  });
});

describe("request_secret timeout", () => {
  it("answers 1009 at the deadline, tells the asked side, and refuses a late answer with 1006", async () => {
    await using node = await startTestNode();
    const { agent, person } = await agentAndPerson(node);
    const cancelled = person.next("secrets.request_cancelled");
    const { call, request } = await ask(agent, person, { url: GITHUB, type: TEXT, timeout_ms: 300 });
    await expect(call).rejects.toMatchObject({ code: 1009, errorName: "timeout" });
    expect(await cancelled).toEqual({ request_id: request.request_id, reason: "timeout" });
    expect(await codeOf(person.secrets.provideSecret({ request_id: request.request_id, data: bytes("late") }))).toBe(1006);
    expect(await codeOf(person.secrets.rejectSecret({ request_id: request.request_id }))).toBe(1006);
    expect((await agent.secrets.listSecrets()).secrets).toEqual([]);
  });
});

describe("a request is answered once", () => {
  it("refuses a second provide or reject with 1006, and keeps the first answer", async () => {
    await using node = await startTestNode();
    const { agent, person } = await agentAndPerson(node);
    const { call, request } = await ask(agent, person);
    await person.secrets.provideSecret({ request_id: request.request_id, data: bytes("first") });
    expect(await codeOf(person.secrets.provideSecret({ request_id: request.request_id, data: bytes("second") }))).toBe(1006);
    expect(await codeOf(person.secrets.rejectSecret({ request_id: request.request_id }))).toBe(1006);
    expect(text((await call).data)).toBe("first");
    const [stored] = (await agent.secrets.listSecrets()).secrets;
    expect(stored?.version).toBe(1);
    // The stored value is the first answer: a cached request returns it.
    const cached = await agent.secrets.requestSecret({ participant_id: person.participantId, url: GITHUB, type: TEXT });
    expect(text(cached.data)).toBe("first");
  });

  it("refuses a provide after a reject with 1006, and stores nothing", async () => {
    await using node = await startTestNode();
    const { agent, person } = await agentAndPerson(node);
    const { call, request } = await ask(agent, person);
    await person.secrets.rejectSecret({ request_id: request.request_id, reason: "no" });
    expect(await codeOf(person.secrets.provideSecret({ request_id: request.request_id, data: bytes("changed my mind") }))).toBe(
      1006,
    );
    await expect(call).rejects.toMatchObject({ code: 1001 });
    expect((await agent.secrets.listSecrets()).secrets).toEqual([]);
  });

  it("lets exactly one of several concurrent answers win", async () => {
    await using node = await startTestNode();
    const { agent, person } = await agentAndPerson(node);
    const otherTab = await node.connect("person", { api: ["secrets"] });
    const { call, request } = await ask(agent, person);
    const codes = await Promise.all([
      codeOf(person.secrets.provideSecret({ request_id: request.request_id, data: bytes("tab 1") })),
      codeOf(otherTab.secrets.provideSecret({ request_id: request.request_id, data: bytes("tab 2") })),
      codeOf(otherTab.secrets.rejectSecret({ request_id: request.request_id, reason: "tab 2 says no" })),
      codeOf(person.secrets.provideSecret({ request_id: request.request_id, data: bytes("tab 1 again") })),
    ]);
    expect(codes.filter((code) => code === "ok")).toHaveLength(1);
    expect(codes.filter((code) => code === 1006)).toHaveLength(3);
    const winner = codes.indexOf("ok");
    if (winner === 2) {
      await expect(call).rejects.toMatchObject({ code: 1001 });
      expect((await agent.secrets.listSecrets()).secrets).toEqual([]);
    } else {
      expect(text((await call).data)).toBe(["tab 1", "tab 2", "", "tab 1 again"][winner]);
      expect((await agent.secrets.listSecrets()).secrets).toEqual([expect.objectContaining({ version: 1 })]);
    }
  });

  it("answers 1003 for a request id that was never made", async () => {
    await using node = await startTestNode();
    const { person } = await agentAndPerson(node);
    expect(await codeOf(person.secrets.provideSecret({ request_id: "rq_AAAAAAAAAAAAAAAAAAAAAAAA", data: bytes("v") }))).toBe(1003);
    expect(await codeOf(person.secrets.rejectSecret({ request_id: "rq_AAAAAAAAAAAAAAAAAAAAAAAA" }))).toBe(1003);
  });
});

describe("an answer from a third identity", () => {
  it("is refused with 1001 and leaves the request answerable by the asked identity", async () => {
    await using node = await startTestNode();
    const { agent, person } = await agentAndPerson(node);
    const carol = await node.connect("carol", { api: ["secrets"] });
    const { call, request } = await ask(agent, person);
    expect(await codeOf(carol.secrets.provideSecret({ request_id: request.request_id, data: bytes("carol's") }))).toBe(1001);
    expect(await codeOf(carol.secrets.rejectSecret({ request_id: request.request_id, reason: "carol says no" }))).toBe(1001);
    await person.secrets.provideSecret({ request_id: request.request_id, data: bytes("person's") });
    expect(text((await call).data)).toBe("person's");
    expect((await carol.secrets.listSecrets()).secrets).toEqual([]);
  });
});

describe("the asked participant leaves", () => {
  it("with no other session of its identity in the room: 1010, and the request is over", async () => {
    await using node = await startTestNode();
    const { agent, person } = await agentAndPerson(node);
    const { call, request } = await ask(agent, person);
    await person.close();
    await expect(call).rejects.toMatchObject({ code: 1010, errorName: "participant_gone" });
    const back = await node.connect("person", { api: ["secrets"] });
    expect(await codeOf(back.secrets.provideSecret({ request_id: request.request_id, data: bytes("too late") }))).toBe(1006);
    expect((await agent.secrets.listSecrets()).secrets).toEqual([]);
  });

  it("while another session of its identity stays: the request stays pending, and that session can answer", async () => {
    await using node = await startTestNode();
    const { agent, person } = await agentAndPerson(node);
    const otherTab = await node.connect("person", { api: ["secrets"] });
    const { call, request } = await ask(agent, person);
    const left = agent.next("participant.left", { filter: (event) => event.participant_id === person.participantId });
    await person.close();
    // The server has handled the leave once the agent hears of it (the same step ends requests waiting on it).
    await left;
    // Had the leave ended the request, this answer would get 1006 and the call would have failed with 1010.
    await expect(otherTab.secrets.provideSecret({ request_id: request.request_id, data: bytes("from the other tab") })).resolves.toEqual(
      {},
    );
    expect(text((await call).data)).toBe("from the other tab");
  });

  it("and then the last session of its identity leaves too: 1010", async () => {
    await using node = await startTestNode();
    const { agent, person } = await agentAndPerson(node);
    const otherTab = await node.connect("person", { api: ["secrets"] });
    const { call } = await ask(agent, person);
    const left = agent.next("participant.left", { filter: (event) => event.participant_id === person.participantId });
    await person.close();
    await left;
    await otherTab.close();
    await expect(call).rejects.toMatchObject({ code: 1010 });
  });
});

describe("another session of the asked identity answers", () => {
  it("closes the prompt of the asked session with request_cancelled reason answered_elsewhere", async () => {
    await using node = await startTestNode();
    const { agent, person } = await agentAndPerson(node);
    const otherTab = await node.connect("person", { api: ["secrets"] });
    const { call, request } = await ask(agent, person);
    const cancelled = person.next("secrets.request_cancelled");
    await otherTab.secrets.provideSecret({ request_id: request.request_id, data: bytes("from the other tab") });
    expect(await cancelled).toEqual({ request_id: request.request_id, reason: "answered_elsewhere" });
    expect(text((await call).data)).toBe("from the other tab");
  });
});

describe("the requester leaves", () => {
  it("cancels the request: the asked side is told (requester_left), a later answer gets 1006, nothing is stored", async () => {
    await using node = await startTestNode();
    const { agent, person } = await agentAndPerson(node);
    const { call, request } = await ask(agent, person);
    const cancelled = person.next("secrets.request_cancelled");
    await agent.close();
    await expect(call).rejects.toBeInstanceOf(RoombusError);
    expect(await cancelled).toEqual({ request_id: request.request_id, reason: "requester_left" });
    expect(await codeOf(person.secrets.provideSecret({ request_id: request.request_id, data: bytes("too late") }))).toBe(1006);
    const agentAgain = await node.connect("agent", { api: ["secrets"] });
    expect((await agentAgain.secrets.listSecrets()).secrets).toEqual([]);
  });
});

describe("a stored requested secret", () => {
  it("is returned without asking anyone, unless refresh is set", async () => {
    await using node = await startTestNode();
    const { agent, person } = await agentAndPerson(node);
    let requestsSeen = 0;
    person.secrets.onSecretRequest(() => requestsSeen++);

    const first = await ask(agent, person);
    await person.secrets.provideSecret({ request_id: first.request.request_id, data: bytes("v1") });
    expect(text((await first.call).data)).toBe("v1");
    expect(requestsSeen).toBe(1);

    const cached = await agent.secrets.requestSecret({ participant_id: person.participantId, url: GITHUB, type: TEXT });
    expect(cached.type).toBe(TEXT);
    expect(text(cached.data)).toBe("v1");
    await drained(agent, person);
    expect(requestsSeen).toBe(1);

    const refreshed = await ask(agent, person, { url: GITHUB, type: TEXT, refresh: true });
    expect(requestsSeen).toBe(2);
    await person.secrets.provideSecret({ request_id: refreshed.request.request_id, data: bytes("v2") });
    expect(text((await refreshed.call).data)).toBe("v2");
    expect((await agent.secrets.listSecrets()).secrets).toEqual([expect.objectContaining({ kind: "requested", version: 2 })]);

    const cachedAgain = await agent.secrets.requestSecret({ participant_id: person.participantId, url: GITHUB, type: TEXT });
    expect(text(cachedAgain.data)).toBe("v2");
    await drained(agent, person);
    expect(requestsSeen).toBe(2);
  });

  it("is keyed by url, type and delegate_to: a request differing in any of them asks again", async () => {
    await using node = await startTestNode();
    const { agent, person } = await agentAndPerson(node);
    const first = await ask(agent, person, { url: GITHUB, type: TEXT });
    await person.secrets.provideSecret({ request_id: first.request.request_id, data: bytes("v") });
    await first.call;
    for (const differing of [
      { url: "https://gitlab.example.test/token", type: TEXT },
      { url: GITHUB, type: "application/json" },
      { url: GITHUB, type: TEXT, delegate_to: "service" },
    ]) {
      const { call, request } = await ask(agent, person, differing);
      expect(request).toMatchObject(differing);
      await person.secrets.rejectSecret({ request_id: request.request_id });
      await expect(call).rejects.toMatchObject({ code: 1001 });
    }
  });

  it("belongs to the requester: another requester with the same url is asked for its own", async () => {
    await using node = await startTestNode();
    const { agent, person } = await agentAndPerson(node);
    const otherAgent = await node.connect("other-agent", { api: ["secrets"] });
    const first = await ask(agent, person);
    await person.secrets.provideSecret({ request_id: first.request.request_id, data: bytes("for agent") });
    await first.call;
    const { call, request } = await ask(otherAgent, person);
    expect(request.from_identity).toBe("other-agent");
    await person.secrets.provideSecret({ request_id: request.request_id, data: bytes("for other-agent") });
    expect(text((await call).data)).toBe("for other-agent");
  });

  it("is removed by delete_requested_secret, so the next request asks again", async () => {
    await using node = await startTestNode();
    const { agent, person } = await agentAndPerson(node);
    const first = await ask(agent, person);
    await person.secrets.provideSecret({ request_id: first.request.request_id, data: bytes("old") });
    await first.call;

    // The asked person cannot delete it: its delete addresses its own (absent) record.
    await expect(person.secrets.deleteRequestedSecret({ url: GITHUB, type: TEXT })).resolves.toEqual({ deleted: false });
    await expect(agent.secrets.deleteRequestedSecret({ url: GITHUB, type: TEXT })).resolves.toEqual({ deleted: true });
    await expect(agent.secrets.deleteRequestedSecret({ url: GITHUB, type: TEXT })).resolves.toEqual({ deleted: false });
    expect((await agent.secrets.listSecrets()).secrets).toEqual([]);

    const again = await ask(agent, person);
    await person.secrets.provideSecret({ request_id: again.request.request_id, data: bytes("new") });
    expect(text((await again.call).data)).toBe("new");
    expect((await agent.secrets.listSecrets()).secrets).toEqual([expect.objectContaining({ kind: "requested", version: 1 })]);
  });
});

describe("request ids", () => {
  it("are unique and carry at least 128 random bits (22+ base64url characters after rq_)", async () => {
    await using node = await startTestNode();
    const { agent, person } = await agentAndPerson(node);
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const { call, request } = await ask(agent, person, { url: `${GITHUB}/${i}`, type: TEXT });
      ids.push(request.request_id);
      await person.secrets.rejectSecret({ request_id: request.request_id });
      await expect(call).rejects.toMatchObject({ code: 1001 });
    }
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^rq_[A-Za-z0-9_-]{22,}$/);
  });
});

describe("delegation through a request (delegate_to)", () => {
  it("stores the answer for the requester, delegated to the named identity, and lists it for both", async () => {
    await using node = await startTestNode();
    const { agent, person } = await agentAndPerson(node);
    const service = await node.connect("service", { api: ["secrets"], role: "tool" });
    const { call, request } = await ask(agent, person, { url: GITHUB, type: TEXT, delegate_to: "service" });
    expect(request.delegate_to).toBe("service");
    await person.secrets.provideSecret({ request_id: request.request_id, data: bytes("for the service") });
    expect(text((await call).data)).toBe("for the service");

    expect((await agent.secrets.listSecrets()).secrets).toEqual([
      { kind: "requested", url: GITHUB, type: TEXT, delegated_to: "service", version: 1, updated_at: expect.any(Number) as unknown },
    ]);
    expect((await service.secrets.listSecrets()).secrets).toEqual([
      {
        kind: "requested",
        url: GITHUB,
        type: TEXT,
        delegated_to: "service",
        delegated_by: "agent",
        version: 1,
        updated_at: expect.any(Number) as unknown,
      },
    ]);
    expect((await person.secrets.listSecrets()).secrets).toEqual([]);

    // The requester reads it back by asking again with the same delegate_to (cached, nobody is asked).
    const cached = await agent.secrets.requestSecret({
      participant_id: person.participantId,
      url: GITHUB,
      type: TEXT,
      delegate_to: "service",
    });
    expect(text(cached.data)).toBe("for the service");
    // The delegatee reads it without asking anyone (get_requested_secret with delegated_by); nobody else can.
    const forService = await service.secrets.getRequestedSecret({ url: GITHUB, type: TEXT, delegated_by: "agent" });
    expect(text(forService!.data)).toBe("for the service");
    expect(await person.secrets.getRequestedSecret({ url: GITHUB, type: TEXT, delegated_by: "agent" })).toBeNull();
    expect(await service.secrets.getRequestedSecret({ url: GITHUB, type: TEXT })).toBeNull();
    expect(text((await agent.secrets.getRequestedSecret({ url: GITHUB, type: TEXT, delegated_to: "service" }))!.data)).toBe(
      "for the service",
    );
    // The delegatee cannot delete it; the requester can.
    await expect(service.secrets.deleteRequestedSecret({ url: GITHUB, type: TEXT, delegated_to: "service" })).resolves.toEqual({
      deleted: false,
    });
    await expect(agent.secrets.deleteRequestedSecret({ url: GITHUB, type: TEXT, delegated_to: "service" })).resolves.toEqual({
      deleted: true,
    });
    expect((await service.secrets.listSecrets()).secrets).toEqual([]);
  });

  it("shows the request to every session of the asked identity, and closes it in the others when one answers", async () => {
    await using node = await startTestNode();
    const agent = await node.connect("agent", { api: ["secrets"] });
    const firstTab = await node.connect("person", { api: ["secrets"] });
    const secondTab = await node.connect("person", { api: ["secrets"] });
    const inFirst = firstTab.next("secrets.request_secret");
    const inSecond = secondTab.next("secrets.request_secret");
    const call = agent.secrets.requestSecret({ participant_id: firstTab.participantId, url: GITHUB, type: TEXT });
    const [first, second] = await Promise.all([inFirst, inSecond]);
    expect(second.request_id).toBe(first.request_id);
    const closed = firstTab.next("secrets.request_cancelled");
    await secondTab.secrets.provideSecret({ request_id: second.request_id, data: bytes("from the second tab") });
    expect(text((await call).data)).toBe("from the second tab");
    expect(await closed).toEqual({ request_id: first.request_id, reason: "answered_elsewhere" });
  });
});

describe("whom a request may name", () => {
  it("a participant of another room: 1003, and nobody is asked", async () => {
    await using node = await startTestNode();
    const agent = await node.connect("agent", { api: ["secrets"] });
    const elsewhere = await node.connect("person", { api: ["secrets", "messaging"], room: "other-room" });
    let asked = 0;
    elsewhere.secrets.onSecretRequest(() => asked++);
    expect(await codeOf(agent.secrets.requestSecret({ participant_id: elsewhere.participantId, url: GITHUB }))).toBe(1003);
    await drained(elsewhere, elsewhere);
    expect(asked).toBe(0);
  });

  it("an unknown participant id: 1003", async () => {
    await using node = await startTestNode();
    const agent = await node.connect("agent", { api: ["secrets"] });
    expect(await codeOf(agent.secrets.requestSecret({ participant_id: "p_nobody", url: GITHUB }))).toBe(1003);
  });

  it("a participant that left: 1010", async () => {
    await using node = await startTestNode();
    const { agent, person } = await agentAndPerson(node);
    const left = agent.next("participant.left", { filter: (event) => event.participant_id === person.participantId });
    await person.close();
    await left;
    expect(await codeOf(agent.secrets.requestSecret({ participant_id: person.participantId, url: GITHUB }))).toBe(1010);
  });
});
