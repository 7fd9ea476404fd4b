/**
 * One canary value, stored through every path that carries a secret value, must appear nowhere but in the answers
 * that are supposed to return it: not in logs (any level), audit records, error messages, list results, metrics,
 * or the SQLite files outside ciphertext.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SqliteStore } from "../../src/secrets/sqlite-store.js";
import { startTestNode } from "../helpers/start-test-node.js";

const CANARY = "CANARY-7f3a9c-do-not-leak";
const canaryBytes = new TextEncoder().encode(CANARY);

describe("the canary", () => {
  it("never leaks from any secrets path", async () => {
    await using node = await startTestNode({ ROOMBUS_LOG_LEVEL: "trace" });
    const agent = await node.connect("agent", { api: ["secrets", "messaging"] });
    const person = await node.connect("person", { api: ["secrets"] });
    const admin = await node.connect("admin", { api: ["secrets", "admin"] });
    const seenErrors: string[] = [];
    const expectRefused = async (call: Promise<unknown>) => {
      const error = await call.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(Error);
      seenErrors.push(JSON.stringify({ message: (error as Error).message, ...(error as object) }));
    };

    // set_secret: plain, delegated, for another identity, and the refusals around them.
    await agent.secrets.setSecret({ secret_id: "api-key", name: "API key", type: "text/plain", data: canaryBytes });
    await agent.secrets.setSecret({ secret_id: "shared", data: canaryBytes, delegated_to: "person" });
    await admin.secrets.setSecret({ secret_id: "for-person", data: canaryBytes, for_identity: "person" });
    await expectRefused(agent.secrets.setSecret({ secret_id: "api-key", data: canaryBytes, if_version: 0 }));
    await expectRefused(agent.secrets.setSecret({ secret_id: "api-key", data: canaryBytes, if_version: 42 }));
    await expectRefused(agent.secrets.setSecret({ secret_id: "x", data: canaryBytes, for_identity: "someone" }));
    await expectRefused(agent.request("secrets.set_secret", { secret_id: "x", data: canaryBytes, bogus: CANARY } as never));
    await expectRefused(agent.request("secrets.set_secret", { secret_id: CANARY, data: CANARY } as never));

    // request_secret → provide_secret, and a rejected one whose provide comes too late.
    const asked = person.next("secrets.request_secret");
    const requested = agent.secrets.requestSecret({ participant_id: person.participantId, url: "secret://db", prompt: "db password" });
    const { request_id } = await asked;
    await person.secrets.provideSecret({ request_id, data: canaryBytes });
    expect(Buffer.from((await requested).data).toString()).toBe(CANARY);
    await expectRefused(person.secrets.provideSecret({ request_id, data: canaryBytes }));
    await expectRefused(agent.secrets.provideSecret({ request_id: "rq_nope", data: canaryBytes }));

    // Reads that are supposed to return it do.
    expect(Buffer.from((await agent.secrets.getSecret({ secret_id: "api-key" }))!.data).toString()).toBe(CANARY);
    expect(Buffer.from((await person.secrets.getSecret({ secret_id: "shared", delegated_by: "agent" }))!.data).toString()).toBe(CANARY);

    // Lists never carry values.
    for (const client of [agent, person, admin]) {
      expect(JSON.stringify(await client.secrets.listSecrets())).not.toContain(CANARY);
    }
    expect(JSON.stringify(await admin.secrets.listSecrets({ for_identity: "person" }))).not.toContain(CANARY);

    // Error messages.
    expect(seenErrors.length).toBeGreaterThanOrEqual(7);
    for (const error of seenErrors) expect(error).not.toContain(CANARY);

    // Metrics.
    const metrics = await (await fetch(`${node.server.httpUrl}/metrics`)).text();
    expect(metrics).not.toContain(CANARY);

    // Audit records: present for every op above, with value digests, never the value.
    const store = new SqliteStore(join(node.config.dataDir, "roombus.db"));
    const audit = await store.queryAudit({ limit: 1000 });
    await store.close();
    expect(audit.length).toBeGreaterThanOrEqual(14);
    expect(audit.some((entry) => entry.valueDigest !== undefined)).toBe(true);
    expect(JSON.stringify(audit)).not.toContain(CANARY);

    // Logs at every level.
    expect(node.logs.length).toBeGreaterThan(0);
    expect(node.logText()).not.toContain(CANARY);

    // The SQLite files (database and write-ahead log) hold it only as ciphertext.
    for (const file of readdirSync(node.config.dataDir)) {
      const contents = readFileSync(join(node.config.dataDir, file));
      expect(contents.includes(Buffer.from(CANARY)), `canary in ${file}`).toBe(false);
    }
  });
});
