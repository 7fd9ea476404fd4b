/**
 * The ProjectStore contract: every implementation runs this suite. Stores only ever see sealed bytes, so the suite
 * uses arbitrary bytes as "sealed" values.
 */
import { describe, expect, it } from "vitest";
import type { NewProjectRecord, ProjectRecordKind, ProjectStore } from "../../src/project/project-store.js";

export interface ProjectStoreFactory {
  /** A fresh, empty store (its own file or key prefix). */
  open(): Promise<ProjectStore>;
  /** Releases what `open` made. */
  dispose(): Promise<void>;
}

const bytes = (...values: number[]) => new Uint8Array(values);

function record(kind: ProjectRecordKind, id: string, name: string, sealed = bytes(1, 2, 3)): NewProjectRecord {
  return { kind, id, name, meta: { scope: "agents", profile_ids: ["p1", "p2"] }, sealed };
}

export function projectStoreContract(name: string, factory: () => ProjectStoreFactory): void {
  describe(`ProjectStore contract: ${name}`, () => {
    async function withStore(body: (store: ProjectStore) => Promise<void>): Promise<void> {
      const f = factory();
      const store = await f.open();
      try {
        await body(store);
      } finally {
        await store.close();
        await f.dispose();
      }
    }

    it("creates a record at version 1 and reads it back by id and by name", async () => {
      await withStore(async (store) => {
        const created = await store.create(record("secret", "sec_a", "API_KEY"), 1000);
        expect(created).toMatchObject({ ok: true, record: { id: "sec_a", name: "API_KEY", version: 1, createdAt: 1000, updatedAt: 1000 } });
        for (const got of [await store.get("secret", "sec_a"), await store.findByName("secret", "API_KEY")]) {
          expect(got).toMatchObject({ kind: "secret", id: "sec_a", name: "API_KEY", version: 1, createdAt: 1000, updatedAt: 1000 });
          expect(got?.meta).toEqual({ scope: "agents", profile_ids: ["p1", "p2"] });
          expect([...got!.sealed]).toEqual([1, 2, 3]);
        }
        expect(await store.get("secret", "sec_nope")).toBeUndefined();
        expect(await store.findByName("secret", "NOPE")).toBeUndefined();
        // Kinds are separate: the same id or name under another kind is another record.
        expect(await store.get("keys", "sec_a")).toBeUndefined();
        expect(await store.findByName("pull", "API_KEY")).toBeUndefined();
      });
    });

    it("refuses a second record with a taken name or id in the same kind, and allows it in another kind", async () => {
      await withStore(async (store) => {
        expect((await store.create(record("secret", "sec_a", "X"))).ok).toBe(true);
        expect(await store.create(record("secret", "sec_b", "X"))).toEqual({ ok: false, reason: "name_taken" });
        expect(await store.create(record("secret", "sec_a", "Y"))).toEqual({ ok: false, reason: "id_taken" });
        expect((await store.create(record("keys", "sec_a", "X"))).ok).toBe(true);
        expect((await store.list("secret")).map((r) => r.id)).toEqual(["sec_a"]);
        // The refused creates left the first record as it was.
        expect((await store.get("secret", "sec_a"))?.name).toBe("X");
      });
    });

    it("lists the records of one kind by name, compared as UTF-8 bytes", async () => {
      await withStore(async (store) => {
        const names = ["b", "B", "a", "é", "_z", "a:b{c}|d", "Z"];
        for (const [i, n] of names.entries()) await store.create(record("keys", `key_${i}`, n));
        await store.create(record("pull", "pull_1", "other"));
        const listed = (await store.list("keys")).map((r) => r.name);
        const expected = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
        expect(listed).toEqual(expected);
        expect((await store.list("pull")).map((r) => r.name)).toEqual(["other"]);
        expect(await store.list("secret")).toEqual([]);
      });
    });

    it("updates meta and sealed value, adding one to the version and keeping name and created_at", async () => {
      await withStore(async (store) => {
        await store.create(record("secret", "sec_a", "A"), 1000);
        const updated = await store.update("secret", "sec_a", { meta: { scope: "all", profile_ids: [] }, sealed: bytes(9) }, {}, 2000);
        expect(updated).toMatchObject({ ok: true, record: { id: "sec_a", name: "A", version: 2, createdAt: 1000, updatedAt: 2000 } });
        const got = await store.get("secret", "sec_a");
        expect(got).toMatchObject({ version: 2, createdAt: 1000, updatedAt: 2000, meta: { scope: "all", profile_ids: [] } });
        expect([...got!.sealed]).toEqual([9]);
        expect(await store.update("secret", "sec_nope", { meta: {}, sealed: bytes(1) })).toEqual({ ok: false, reason: "not_found" });
      });
    });

    it("applies an update or delete with ifVersion only at that version", async () => {
      await withStore(async (store) => {
        await store.create(record("secret", "sec_a", "A"));
        const change = { meta: {}, sealed: bytes(7) };
        expect(await store.update("secret", "sec_a", change, { ifVersion: 2 })).toEqual({ ok: false, reason: "conflict" });
        expect((await store.update("secret", "sec_a", change, { ifVersion: 1 })).ok).toBe(true);
        expect(await store.update("secret", "sec_a", change, { ifVersion: 1 })).toEqual({ ok: false, reason: "conflict" });
        expect(await store.delete("secret", "sec_a", { ifVersion: 1 })).toBe("conflict");
        expect((await store.get("secret", "sec_a"))?.version).toBe(2);
        expect(await store.delete("secret", "sec_a", { ifVersion: 2 })).toBe("deleted");
      });
    });

    it("deletes a record, freeing its name", async () => {
      await withStore(async (store) => {
        await store.create(record("pull", "pull_a", "acme"));
        expect(await store.delete("pull", "pull_a")).toBe("deleted");
        expect(await store.delete("pull", "pull_a")).toBe("not_found");
        expect(await store.get("pull", "pull_a")).toBeUndefined();
        expect(await store.findByName("pull", "acme")).toBeUndefined();
        expect(await store.list("pull")).toEqual([]);
        expect((await store.create(record("pull", "pull_b", "acme"))).ok).toBe(true);
        expect((await store.findByName("pull", "acme"))?.id).toBe("pull_b");
      });
    });

    it("lets exactly one of many concurrent writers win a name, or a version", async () => {
      await withStore(async (store) => {
        const creates = await Promise.all(Array.from({ length: 10 }, (_, i) => store.create(record("secret", `sec_${i}`, "SAME"))));
        expect(creates.filter((result) => result.ok)).toHaveLength(1);
        const winner = (await store.findByName("secret", "SAME"))!;
        const updates = await Promise.all(
          Array.from({ length: 10 }, (_, i) => store.update("secret", winner.id, { meta: {}, sealed: bytes(i) }, { ifVersion: 1 })),
        );
        expect(updates.filter((result) => result.ok)).toHaveLength(1);
        expect((await store.get("secret", winner.id))?.version).toBe(2);
      });
    });

    it("keeps sealed bytes exactly, zero bytes and 64 KiB included", async () => {
      await withStore(async (store) => {
        const large = new Uint8Array(64 * 1024 + 37).map((_, i) => (i * 31) % 256);
        await store.create(record("keys", "key_large", "large", large));
        await store.create(record("keys", "key_zero", "zero", bytes(0, 0, 255, 0)));
        expect(Buffer.from((await store.get("keys", "key_large"))!.sealed).equals(Buffer.from(large))).toBe(true);
        expect([...(await store.findByName("keys", "zero"))!.sealed]).toEqual([0, 0, 255, 0]);
      });
    });

    it("reports healthy until closed, and refuses operations after close", async () => {
      const f = factory();
      const store = await f.open();
      try {
        expect(store.isHealthy()).toBe(true);
        await store.close();
        expect(store.isHealthy()).toBe(false);
        await expect(store.get("secret", "sec_a")).rejects.toThrow();
        await expect(store.create(record("secret", "sec_a", "A"))).rejects.toThrow();
        await store.close();
      } finally {
        await f.dispose();
      }
    });
  });
}
