/**
 * The PresenceDirectory contract: every implementation runs this suite. `makeDirectories(n)` returns n directories
 * that share one backend, as n nodes would; `dispose` releases them. Room names are unique per test, so a backend
 * shared between tests never sees another test's rooms.
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { ParticipantRecord, PresenceDirectory } from "../../src/bus/presence.js";

export interface PresenceFactory {
  makeDirectories(count: number): Promise<PresenceDirectory[]>;
  dispose(): Promise<void>;
}

function uniqueRoom(name: string): string {
  return `${name}-${randomBytes(6).toString("hex")}`;
}

function participant(id: string, overrides: Partial<ParticipantRecord> = {}): ParticipantRecord {
  return { id, identity: `identity-${id}`, role: "user", attributes: {}, node: "node-a", toolkits: [], ...overrides };
}

const byId = (records: ParticipantRecord[]): ParticipantRecord[] => [...records].sort((a, b) => a.id.localeCompare(b.id));

export function presenceContract(name: string, factory: () => PresenceFactory): void {
  describe(`PresenceDirectory contract: ${name}`, () => {
    async function withDirectories(
      count: number,
      body: (directories: PresenceDirectory[]) => Promise<void>,
    ): Promise<void> {
      const f = factory();
      try {
        await body(await f.makeDirectories(count));
      } finally {
        await f.dispose();
      }
    }

    it("lists what was added, record for record, to every directory", async () => {
      await withDirectories(2, async ([a, b]) => {
        const room = uniqueRoom("list");
        const alice = participant("p_alice", {
          identity: "alice ünïcødé 😀",
          role: "agent",
          attributes: { status: "busy", nested: { list: [1, "two", null, true], deep: { x: 1.5 } } },
          toolkits: [{ name: "search", tools: [{ name: "web", description: "search the web" }, { name: "local" }] }],
        });
        const bob = participant("p_bob", { node: "node-b" });
        await a!.add(room, alice);
        await b!.add(room, bob);
        expect(byId(await a!.list(room))).toEqual([alice, bob]);
        expect(byId(await b!.list(room))).toEqual([alice, bob]);
      });
    });

    it("lists an unknown room as empty", async () => {
      await withDirectories(1, async ([a]) => {
        expect(await a!.list(uniqueRoom("nobody"))).toEqual([]);
      });
    });

    it("replaces the record when the same participant is added again", async () => {
      await withDirectories(1, async ([a]) => {
        const room = uniqueRoom("readd");
        await a!.add(room, participant("p1", { attributes: { v: 1 } }));
        await a!.add(room, participant("p1", { attributes: { v: 2 } }));
        expect(await a!.list(room)).toEqual([participant("p1", { attributes: { v: 2 } })]);
      });
    });

    it("updates a present participant, and ignores an update for one who is gone", async () => {
      await withDirectories(2, async ([a, b]) => {
        const room = uniqueRoom("update");
        await a!.add(room, participant("p1"));
        await b!.update(room, participant("p1", { attributes: { status: "away" } }));
        expect(await a!.list(room)).toEqual([participant("p1", { attributes: { status: "away" } })]);

        await b!.update(room, participant("p_ghost"));
        expect((await a!.list(room)).map((p) => p.id)).toEqual(["p1"]);

        expect(await a!.remove(room, "p1")).toBe(true);
        await b!.update(room, participant("p1", { attributes: { status: "back" } }));
        expect(await a!.list(room)).toEqual([]);
      });
    });

    it("removes once: true for the removal, false after", async () => {
      await withDirectories(1, async ([a]) => {
        const room = uniqueRoom("remove");
        await a!.add(room, participant("p1"));
        await a!.add(room, participant("p2"));
        expect(await a!.remove(room, "p1")).toBe(true);
        expect(await a!.remove(room, "p1")).toBe(false);
        expect(await a!.remove(room, "p_never")).toBe(false);
        expect((await a!.list(room)).map((p) => p.id)).toEqual(["p2"]);
      });
    });

    it("lets exactly one of many concurrent removers win", async () => {
      await withDirectories(4, async (directories) => {
        const room = uniqueRoom("race");
        const ids = Array.from({ length: 20 }, (_, i) => `p${i}`);
        for (const id of ids) await directories[0]!.add(room, participant(id));
        const results = await Promise.all(
          ids.flatMap((id) => directories.flatMap((d) => [d.remove(room, id), d.remove(room, id)])),
        );
        const perId = ids.map((_, i) => results.slice(i * 8, i * 8 + 8).filter(Boolean).length);
        expect(perId).toEqual(ids.map(() => 1));
        expect(await directories[1]!.list(room)).toEqual([]);
      });
    });

    it("keeps rooms apart", async () => {
      await withDirectories(1, async ([a]) => {
        const r1 = uniqueRoom("r1");
        const r2 = uniqueRoom("r2");
        await a!.add(r1, participant("p1"));
        await a!.add(r2, participant("p2"));
        expect(await a!.remove(r2, "p1")).toBe(false);
        await a!.update(r2, participant("p1", { attributes: { moved: true } }));
        expect(await a!.list(r1)).toEqual([participant("p1")]);
        expect(await a!.list(r2)).toEqual([participant("p2")]);
      });
    });
  });
}
