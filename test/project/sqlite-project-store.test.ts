import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SqliteProjectStore } from "../../src/project/sqlite-project-store.js";
import { SqliteStore } from "../../src/secrets/sqlite-store.js";
import { projectStoreContract } from "../contract/project-store.contract.js";

projectStoreContract("SqliteProjectStore", () => {
  const dir = mkdtempSync(join(tmpdir(), "roombus-project-store-"));
  return {
    open: async () => new SqliteProjectStore(join(dir, "roombus.db")),
    dispose: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

describe("SqliteProjectStore file", () => {
  it("shares the server's SQLite file with the room store, owner-readable only, and keeps data across reopen", async () => {
    const dir = mkdtempSync(join(tmpdir(), "roombus-project-store-"));
    try {
      const path = join(dir, "nested", "roombus.db");
      const project = new SqliteProjectStore(path);
      const rooms = new SqliteStore(path);
      // Interleaved writes through both connections: each waits for the other's lock instead of failing.
      await Promise.all([
        project.create({ kind: "secret", id: "sec_a", name: "A", meta: {}, sealed: new Uint8Array([1]) }),
        rooms.putRecord({ kind: "secret", room: "r", owner: "o", id: "x" }, { type: "t", sealed: new Uint8Array([2]) }),
        project.create({ kind: "keys", id: "key_a", name: "k", meta: { keys: ["K"] }, sealed: new Uint8Array([3]) }),
      ]);
      await project.close();
      await rooms.close();
      expect(statSync(path).mode & 0o777).toBe(0o600);

      const reopened = new SqliteProjectStore(path);
      expect((await reopened.get("secret", "sec_a"))?.version).toBe(1);
      expect((await reopened.findByName("keys", "k"))?.meta).toEqual({ keys: ["K"] });
      await reopened.close();
      const roomsAgain = new SqliteStore(path);
      expect((await roomsAgain.getRecord({ kind: "secret", room: "r", owner: "o", id: "x" }))?.version).toBe(1);
      await roomsAgain.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
