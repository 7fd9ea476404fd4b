/**
 * The SecretStore contract: every implementation runs this suite. Stores only ever see sealed bytes, so the suite
 * uses arbitrary bytes as "sealed" values.
 */
import { describe, expect, it } from "vitest";
import type { RecordKey } from "../../src/secrets/record-key.js";
import type { RequestRecord, SecretStore } from "../../src/secrets/secret-store.js";

export interface StoreFactory {
  /** A fresh, empty store (its own file, key prefix or database). */
  open(): Promise<SecretStore>;
  /** Releases what `open` made. */
  dispose(): Promise<void>;
}

const bytes = (...values: number[]) => new Uint8Array(values);

/** A request record for store tests: only the id and the deadline vary. */
export function requestRecord(id: string, expiresAt: number): RequestRecord {
  return {
    id,
    kind: "secret",
    room: "r",
    requesterNode: "n1",
    requesterParticipantId: "p_req",
    requesterIdentity: "agent",
    askedParticipantId: "p_asked",
    askedIdentity: "person",
    expiresAt,
    details: { url: "secret://x", type: "text/plain" },
  };
}

export function storeContract(name: string, factory: () => StoreFactory): void {
  describe(`SecretStore contract: ${name}`, () => {
    async function withStore(body: (store: SecretStore) => Promise<void>): Promise<void> {
      const f = factory();
      const store = await f.open();
      try {
        await body(store);
      } finally {
        await store.close();
        await f.dispose();
      }
    }

    const secret = (id: string, delegatedTo?: string): RecordKey => ({ kind: "secret", room: "r", owner: "alice", id, delegatedTo });

    it("puts, gets and deletes a record by key, counting versions from 1", async () => {
      await withStore(async (store) => {
        expect(await store.getRecord(secret("a"))).toBeUndefined();
        expect(await store.putRecord(secret("a"), { type: "text/plain", name: "A", sealed: bytes(1, 2) }, {}, 1000)).toEqual({ ok: true, version: 1 });
        expect(await store.putRecord(secret("a"), { type: "text/plain", sealed: bytes(3) }, {}, 2000)).toEqual({ ok: true, version: 2 });
        const got = await store.getRecord(secret("a"));
        expect(got).toMatchObject({ key: { kind: "secret", id: "a", owner: "alice", room: "r" }, type: "text/plain", version: 2, updatedAt: 2000 });
        expect(got?.name).toBeUndefined();
        expect([...got!.sealed]).toEqual([3]);
        expect(await store.deleteRecord(secret("a"))).toBe(true);
        expect(await store.deleteRecord(secret("a"))).toBe(false);
        expect(await store.getRecord(secret("a"))).toBeUndefined();
      });
    });

    it("treats delegated_to as part of the key, and keeps kinds, owners and rooms apart", async () => {
      await withStore(async (store) => {
        await store.putRecord(secret("a"), { type: "t", sealed: bytes(1) });
        await store.putRecord(secret("a", "bob"), { type: "t", sealed: bytes(2) });
        await store.putRecord({ kind: "secret", room: "r2", owner: "alice", id: "a" }, { type: "t", sealed: bytes(3) });
        await store.putRecord({ kind: "secret", room: "r", owner: "carol", id: "a" }, { type: "t", sealed: bytes(4) });
        await store.putRecord({ kind: "requested", room: "r", owner: "alice", url: "a", type: "t" }, { type: "t", sealed: bytes(5) });
        expect([...(await store.getRecord(secret("a")))!.sealed]).toEqual([1]);
        expect([...(await store.getRecord(secret("a", "bob")))!.sealed]).toEqual([2]);
        const listed = await store.listRecords("r", "alice");
        expect(listed.owned.map((r) => [r.key.kind, r.key.delegatedTo ?? null])).toEqual(
          expect.arrayContaining([["secret", null], ["secret", "bob"], ["requested", null]]) as unknown,
        );
        expect(listed.owned).toHaveLength(3);
        expect(listed.delegatedToMe).toHaveLength(0);
        const bobs = await store.listRecords("r", "bob");
        expect(bobs.owned).toHaveLength(0);
        expect(bobs.delegatedToMe.map((r) => r.key.owner)).toEqual(["alice"]);
        expect((await store.listRecords("r2", "bob")).delegatedToMe).toHaveLength(0);
      });
    });

    it("lists OAuth credentials to the identity that authorized them", async () => {
      await withStore(async (store) => {
        const key: RecordKey = { kind: "oauth", room: "r", owner: "agent", authorizationEndpoint: "https://as/a", clientId: "c" };
        await store.putRecord(key, { type: "oauth", sealed: bytes(1), authorizedBy: "person" });
        expect((await store.getRecord(key))?.authorizedBy).toBe("person");
        const person = await store.listRecords("r", "person");
        expect(person.authorizedByMe.map((r) => r.key)).toEqual([key]);
        expect(person.owned).toHaveLength(0);
        expect((await store.listRecords("r", "agent")).authorizedByMe).toHaveLength(0);
        expect((await store.listRecords("other", "person")).authorizedByMe).toHaveLength(0);
        // Authorized by and delegated to the same identity: listed once, as delegated.
        const both: RecordKey = { ...key, delegatedTo: "person" };
        await store.putRecord(both, { type: "oauth", sealed: bytes(2), authorizedBy: "person" });
        const again = await store.listRecords("r", "person");
        expect(again.authorizedByMe.map((r) => r.key)).toEqual([key]);
        expect(again.delegatedToMe.map((r) => r.key)).toEqual([both]);
      });
    });

    it("round-trips OAuth and requested keys exactly", async () => {
      await withStore(async (store) => {
        const oauthKey: RecordKey = { kind: "oauth", room: "r", owner: "alice", authorizationEndpoint: "https://as/authorize", clientId: "c1", delegatedTo: "svc" };
        const requestedKey: RecordKey = { kind: "requested", room: "r", owner: "alice", url: "secret://u", type: "text/plain" };
        await store.putRecord(oauthKey, { type: "oauth", sealed: bytes(1) });
        await store.putRecord(requestedKey, { type: "text/plain", sealed: bytes(2) });
        expect((await store.getRecord(oauthKey))?.key).toEqual(oauthKey);
        expect((await store.getRecord(requestedKey))?.key).toEqual({ ...requestedKey, delegatedTo: undefined });
      });
    });

    it("writes conditionally: create-only, and only on the expected version", async () => {
      await withStore(async (store) => {
        expect(await store.putRecord(secret("c"), { type: "t", sealed: bytes(1) }, { ifVersion: 0 })).toEqual({ ok: true, version: 1 });
        expect(await store.putRecord(secret("c"), { type: "t", sealed: bytes(2) }, { ifVersion: 0 })).toEqual({ ok: false, reason: "exists" });
        expect(await store.putRecord(secret("c"), { type: "t", sealed: bytes(2) }, { ifVersion: 2 })).toEqual({ ok: false, reason: "conflict" });
        expect(await store.putRecord(secret("c"), { type: "t", sealed: bytes(2) }, { ifVersion: 1 })).toEqual({ ok: true, version: 2 });
        expect(await store.putRecord(secret("missing"), { type: "t", sealed: bytes(2) }, { ifVersion: 1 })).toEqual({ ok: false, reason: "conflict" });
      });
    });

    it("lets exactly one of many concurrent conditional writers win", async () => {
      await withStore(async (store) => {
        await store.putRecord(secret("race"), { type: "t", sealed: bytes(0) });
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) => store.putRecord(secret("race"), { type: "t", sealed: bytes(i) }, { ifVersion: 1 })),
        );
        expect(results.filter((r) => r.ok)).toHaveLength(1);
        expect(results.filter((r) => !r.ok && r.reason === "conflict")).toHaveLength(19);
      });
    });

    it("finishes a request exactly once, and remembers how it ended", async () => {
      await withStore(async (store) => {
        const now = 1_000_000;
        await store.createRequest(requestRecord("rq_1", now + 60_000));
        expect(await store.getRequest("rq_1", now)).toMatchObject({ state: "pending", record: { askedIdentity: "person" } });
        const outcomes = await Promise.all([
          store.finishRequest("rq_1", "answered", now),
          store.finishRequest("rq_1", "rejected", now),
          store.finishRequest("rq_1", "answered", now),
        ]);
        expect(outcomes.filter((o) => o.won)).toHaveLength(1);
        expect(outcomes.filter((o) => !o.won).map((o) => (o.won ? "" : o.state))).toEqual(["answered", "answered"]);
        expect((await store.getRequest("rq_1", now))?.state).toBe("answered");
        expect(await store.finishRequest("rq_unknown", "answered", now)).toEqual({ won: false, state: "not_found" });
        expect(await store.getRequest("rq_unknown", now)).toBeUndefined();
      });
    });

    it("does not let a request be answered after its deadline", async () => {
      await withStore(async (store) => {
        const now = 1_000_000;
        await store.createRequest(requestRecord("rq_late", now + 10));
        expect((await store.getRequest("rq_late", now + 11))?.state).toBe("expired");
        expect(await store.finishRequest("rq_late", "answered", now + 11)).toEqual({ won: false, state: "expired" });
        await store.createRequest(requestRecord("rq_timeout", now + 10));
        expect((await store.finishRequest("rq_timeout", "expired", now + 11)).won).toBe(true);
      });
    });

    it("gives a lock to one holder at a time, until it is released or its TTL passes", async () => {
      await withStore(async (store) => {
        const now = 5_000_000;
        const attempts = await Promise.all(["a", "b", "c"].map((holder) => store.acquireLock("refresh:x", holder, 1000, now)));
        expect(attempts.filter(Boolean)).toHaveLength(1);
        const winner = ["a", "b", "c"][attempts.indexOf(true)]!;
        const loser = ["a", "b", "c"].find((h) => h !== winner)!;
        expect(await store.acquireLock("refresh:x", loser, 1000, now + 10)).toBe(false);
        expect(await store.acquireLock("refresh:other", loser, 1000, now + 10)).toBe(true);
        await store.releaseLock("refresh:x", loser);
        expect(await store.acquireLock("refresh:x", loser, 1000, now + 20)).toBe(false);
        await store.releaseLock("refresh:x", winner);
        expect(await store.acquireLock("refresh:x", loser, 1000, now + 30)).toBe(true);
        // A holder that never releases loses the lock at its TTL.
        expect(await store.acquireLock("refresh:x", winner, 1000, now + 1031)).toBe(true);
      });
    });

    it("keeps data keys and the newest key id", async () => {
      await withStore(async (store) => {
        expect(await store.loadDataKeys()).toEqual({ keys: [], newestId: undefined });
        const keys = [
          { id: 7, masterKeyId: "m1", wrapped: bytes(1, 2, 3), createdAt: 1 },
          { id: 9, masterKeyId: "m2", wrapped: bytes(4), createdAt: 2 },
        ];
        await store.saveDataKeys(keys, 9);
        const loaded = await store.loadDataKeys();
        expect(loaded.newestId).toBe(9);
        expect(loaded.keys.map((k) => ({ ...k, wrapped: [...k.wrapped] }))).toEqual(keys.map((k) => ({ ...k, wrapped: [...k.wrapped] })));
        await store.saveDataKeys([keys[1]!], 9);
        expect((await store.loadDataKeys()).keys.map((k) => k.id)).toEqual([9]);
      });
    });

    it("appends audit records and filters them by room, identity and time, newest first", async () => {
      await withStore(async (store) => {
        const entry = (at: number, room: string, actor: string, op: string) => ({
          at, room, actor, participantId: "p", op, target: { secret_id: "s" }, outcome: "ok",
        });
        await store.appendAudit(entry(1, "r", "alice", "secrets.set_secret"));
        await store.appendAudit({ ...entry(2, "r", "bob", "secrets.get_secret"), outcome: "permission_denied", errorCode: 1001 });
        await store.appendAudit({ ...entry(3, "other", "alice", "secrets.get_secret"), valueDigest: "abc" });
        expect((await store.queryAudit({ room: "r", limit: 10 })).map((e) => e.at)).toEqual([2, 1]);
        expect((await store.queryAudit({ identity: "alice", limit: 10 })).map((e) => e.at)).toEqual([3, 1]);
        expect((await store.queryAudit({ since: 2, limit: 10 })).map((e) => e.at)).toEqual([3, 2]);
        expect((await store.queryAudit({ limit: 1 })).map((e) => e.at)).toEqual([3]);
        const [bobs] = await store.queryAudit({ identity: "bob", limit: 10 });
        expect(bobs).toMatchObject({ outcome: "permission_denied", errorCode: 1001, target: { secret_id: "s" } });
      });
    });

    it("reports healthy until closed", async () => {
      const f = factory();
      const store = await f.open();
      expect(store.isHealthy()).toBe(true);
      await store.close();
      expect(store.isHealthy()).toBe(false);
      await f.dispose();
    });
  });
}
