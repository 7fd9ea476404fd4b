import { describe, expect, it } from "vitest";
import { MemoryLiveness, MemoryPresence } from "../../src/bus/presence.js";
import { presenceContract } from "../contract/presence.contract.js";

presenceContract("MemoryPresence", () => {
  const presence = new MemoryPresence();
  return {
    async makeDirectories(count) {
      return Array.from({ length: count }, () => presence);
    },
    async dispose() {
      await presence.close();
    },
  };
});

describe("MemoryLiveness", () => {
  it("knows every node that sent a heartbeat, holds them all alive, and forgets on request", async () => {
    const liveness = new MemoryLiveness();
    await liveness.heartbeat("n1", 1_000);
    await liveness.heartbeat("n2", 1_000);
    expect((await liveness.listNodes()).sort()).toEqual(["n1", "n2"]);
    expect(await liveness.isAlive("n1")).toBe(true);
    expect(await liveness.roomsOf("n1")).toEqual([]);
    await liveness.forgetNode("n1");
    expect(await liveness.listNodes()).toEqual(["n2"]);
  });

  it("grants a claim once per node until the node is forgotten", async () => {
    const liveness = new MemoryLiveness();
    const claims = await Promise.all(["a", "b", "c"].map((claimer) => liveness.claimDeadNode("dead", claimer, 1_000)));
    expect(claims.filter(Boolean)).toHaveLength(1);
    await liveness.forgetNode("dead");
    expect(await liveness.claimDeadNode("dead", "a", 1_000)).toBe(true);
  });
});
