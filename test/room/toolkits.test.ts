import { describe, expect, it } from "vitest";
import { startTestNode } from "../helpers/start-test-node.js";

describe("tool calls", () => {
  it("relays a call to its host and the result back", async () => {
    await using node = await startTestNode();
    const host = await node.connect("calc", { role: "tool" });
    const caller = await node.connect("agent", { role: "agent" });
    await host.registerToolkit("math", [
      { name: "add", description: "adds two numbers", handler: (args) => ({ sum: (args.a as number) + (args.b as number) }) },
    ]);
    expect(await caller.listToolkits()).toEqual([
      { participant_id: host.participantId, identity: "calc", name: "math", tools: [{ name: "add", description: "adds two numbers" }] },
    ]);
    const seen = host.next("toolkits.call");
    expect(await caller.invoke(host.participantId, "math", "add", { a: 2, b: 3 })).toEqual({ sum: 5 });
    const call = await seen;
    expect(call).toMatchObject({ from_participant_id: caller.participantId, from_identity: "agent", toolkit: "math", tool: "add" });
    expect(call.expires_at).toBeGreaterThan(Date.now());
  });

  it("returns the host's error as 1008 with its message", async () => {
    await using node = await startTestNode();
    const host = await node.connect("calc");
    const caller = await node.connect("agent");
    await host.registerToolkit("math", [
      {
        name: "divide",
        handler: () => {
          throw new Error("division by zero");
        },
      },
    ]);
    await expect(caller.invoke(host.participantId, "math", "divide", {})).rejects.toMatchObject({
      code: 1008,
      message: expect.stringContaining("division by zero") as unknown,
    });
  });

  it("answers 1009 when the host does not answer by the deadline", async () => {
    await using node = await startTestNode();
    const host = await node.connect("slow");
    const caller = await node.connect("agent");
    await host.request("toolkits.register", { name: "kit", tools: [{ name: "wait" }] });
    const arrived = host.next("toolkits.call");
    const call = caller.invoke(host.participantId, "kit", "wait", {}, { timeoutMs: 200 });
    const { call_id } = await arrived;
    await expect(call).rejects.toMatchObject({ code: 1009 });
    // A late answer is told the call ended; an id that never existed is not found.
    await expect(host.request("toolkits.respond", { call_id, result: 1 })).rejects.toMatchObject({ code: 1006 });
    await expect(host.request("toolkits.respond", { call_id: "c_never", result: 1 })).rejects.toMatchObject({ code: 1003 });
  });

  it("answers 1010 when the host leaves mid-call", async () => {
    await using node = await startTestNode();
    const host = await node.connect("leaving");
    const caller = await node.connect("agent");
    await host.request("toolkits.register", { name: "kit", tools: [{ name: "wait" }] });
    const arrived = host.next("toolkits.call");
    const call = caller.invoke(host.participantId, "kit", "wait", {});
    await arrived;
    await host.close();
    await expect(call).rejects.toMatchObject({ code: 1010 });
  });

  it("answers 1003 for a participant of another room, an unknown toolkit or tool", async () => {
    await using node = await startTestNode();
    const host = await node.connect("calc", { room: "other-room" });
    const local = await node.connect("local");
    const caller = await node.connect("agent");
    await host.request("toolkits.register", { name: "kit", tools: [{ name: "t" }] });
    await local.request("toolkits.register", { name: "kit", tools: [{ name: "t" }] });
    await expect(caller.invoke(host.participantId, "kit", "t", {})).rejects.toMatchObject({ code: 1003 });
    await expect(caller.invoke(local.participantId, "nokit", "t", {})).rejects.toMatchObject({ code: 1003 });
    await expect(caller.invoke(local.participantId, "kit", "nope", {})).rejects.toMatchObject({ code: 1003 });
  });

  it("lets only the host that received a call answer it", async () => {
    await using node = await startTestNode();
    const host = await node.connect("calc");
    const intruder = await node.connect("intruder");
    const caller = await node.connect("agent");
    await host.request("toolkits.register", { name: "kit", tools: [{ name: "t" }] });
    const arrived = host.next("toolkits.call");
    const call = caller.invoke(host.participantId, "kit", "t", {});
    const { call_id } = await arrived;
    await expect(intruder.request("toolkits.respond", { call_id, result: "forged" })).rejects.toMatchObject({ code: 1003 });
    await host.request("toolkits.respond", { call_id, result: "real" });
    expect(await call).toBe("real");
    await expect(host.request("toolkits.respond", { call_id, result: "again" })).rejects.toMatchObject({ code: 1006 });
  });

  it("needs the toolkits grant", async () => {
    await using node = await startTestNode();
    const client = await node.connect("nogrant", { api: ["messaging"] });
    await expect(client.request("toolkits.list", {})).rejects.toMatchObject({ code: 1001 });
  });
});
