import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SqliteStore } from "../../src/secrets/sqlite-store.js";
import { storeContract } from "../contract/store.contract.js";

storeContract("SqliteStore", () => {
  const dir = mkdtempSync(join(tmpdir(), "roombus-store-"));
  return {
    open: async () => new SqliteStore(join(dir, "roombus.db")),
    dispose: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

describe("SqliteStore file", () => {
  it("creates its file readable by the owner only, and keeps data across reopen", async () => {
    const dir = mkdtempSync(join(tmpdir(), "roombus-store-"));
    try {
      const path = join(dir, "nested", "roombus.db");
      const first = new SqliteStore(path);
      await first.putRecord({ kind: "secret", room: "r", owner: "a", id: "x" }, { type: "t", sealed: new Uint8Array([9]) });
      await first.close();
      expect(statSync(path).mode & 0o777).toBe(0o600);
      const second = new SqliteStore(path);
      expect((await second.getRecord({ kind: "secret", room: "r", owner: "a", id: "x" }))?.version).toBe(1);
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
