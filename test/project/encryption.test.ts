/**
 * Project records at rest: sealed with the rooms' keyring, bound to what they are, and readable after a rotation
 * done elsewhere while the server runs.
 */
import Database from "better-sqlite3";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { resolveMasterKeys } from "../../src/config.js";
import { createLogger } from "../../src/logger.js";
import { ProjectVault } from "../../src/project/project-vault.js";
import { SqliteProjectStore } from "../../src/project/sqlite-project-store.js";
import { Keyring } from "../../src/secrets/keyring.js";
import { openKeyring, rotateKeys } from "../../src/secrets/key-management.js";
import { SqliteStore } from "../../src/secrets/sqlite-store.js";
import { startTestNode } from "../helpers/start-test-node.js";
import { adminToken, callApi, errorOf, type ProjectSecret, type ResolvedEnvironment } from "./project-http.js";

describe("project records at rest", () => {
  it("reads a record sealed with a data key made by a rotation elsewhere, and seals with it from then on", async () => {
    await using node = await startTestNode();
    const token = await adminToken(node);
    await callApi(node, "POST", "/v1/secrets", { token, body: { name: "OLD", value: "sealed before" } });

    // Another writer on the same store rotates and writes with the new data key.
    const path = join(node.config.dataDir, "roombus.db");
    const masters = resolveMasterKeys(node.config, { create: false }).masters;
    const rooms = new SqliteStore(path);
    const projects = new SqliteProjectStore(path);
    try {
      const report = await rotateKeys(rooms, masters);
      const otherVault = new ProjectVault(projects, await openKeyring(rooms, masters), createLogger("silent"));
      await otherVault.create("secret", "NEW", { scope: "all", profile_ids: [] }, Buffer.from("sealed after"));

      const resolved = await callApi<ResolvedEnvironment>(node, "POST", "/v1/environment", { token, body: {} });
      expect(resolved.status, resolved.text).toBe(200);
      expect(resolved.json.project).toMatchObject({ OLD: "sealed before", NEW: "sealed after" });

      const later = await callApi<ProjectSecret>(node, "POST", "/v1/secrets", { token, body: { name: "LATER", value: "v" } });
      expect(Keyring.dataKeyIdOf((await projects.get("secret", later.json.id))!.sealed)).toBe(report.newDataKeyId);
    } finally {
      await projects.close();
      await rooms.close();
    }
  });

  it("refuses to answer with a value whose record was edited in the store to widen its scope", async () => {
    await using node = await startTestNode();
    const token = await adminToken(node);
    const secret = await callApi<ProjectSecret>(node, "POST", "/v1/secrets", {
      token,
      body: { name: "BILLING_ONLY", value: "for billing", scope: "agents", profile_ids: ["billing"] },
    });
    const resolve = (profile?: string) =>
      callApi<ResolvedEnvironment>(node, "POST", "/v1/environment", { token, body: profile === undefined ? {} : { profile_id: profile } });
    expect((await resolve("billing")).json.project.BILLING_ONLY).toBe("for billing");
    expect((await resolve()).json.project).not.toHaveProperty("BILLING_ONLY");

    // Someone with write access to the database file (and not to the key) makes the secret everyone's.
    const db = new Database(join(node.config.dataDir, "roombus.db"));
    db.pragma("busy_timeout = 5000");
    db.prepare("UPDATE project_records SET meta = ? WHERE id = ?").run(JSON.stringify({ scope: "all", profile_ids: [] }), secret.json.id);
    db.close();

    const tampered = await resolve();
    expect(tampered.status).toBe(500);
    expect(errorOf(tampered).code).toBe("internal");
    expect(tampered.text).not.toContain("for billing");
    expect(node.logs.some((line) => line.msg === "stored project record does not decrypt" && line.id === secret.json.id)).toBe(true);
  });
});
