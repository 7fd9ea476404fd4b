/**
 * Starts a real roombus server on port 0 with its own data directory and captured logs, and disposes of it (and of
 * every client it opened) with `await using`.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { mintToken, type MintRequest } from "../../src/auth/tokens.js";
import { connect, type RoomClient } from "../../src/client/index.js";
import { loadConfig, type Config, type ConfigInput } from "../../src/config.js";
import { createLogger } from "../../src/logger.js";
import { startServer, type RoombusServer } from "../../src/main.js";

export const TEST_SECRET = "test-secret-0123456789-abcdefghijklmnop";
export const TEST_ROOM = "test-room";

export interface TokenOptions extends Partial<Omit<MintRequest, "identity" | "ttlSeconds">> {
  ttlSeconds?: number;
}

export interface TestNode extends AsyncDisposable {
  server: RoombusServer;
  config: Config;
  /** Every log line the server wrote, as parsed JSON. */
  logs: Record<string, unknown>[];
  /** The raw log text, for canary searches. */
  logText(): string;
  token(identity: string, options?: TokenOptions): Promise<string>;
  /** Connects a client as `identity` (messaging and toolkits granted unless `api` says otherwise). */
  connect(identity: string, options?: TokenOptions): Promise<RoomClient>;
}

export async function startTestNode(overrides: Partial<Record<keyof ConfigInput, string>> = {}): Promise<TestNode> {
  const dataDir = await mkdtemp(join(tmpdir(), "roombus-test-"));
  const config = loadConfig(
    {},
    { ROOMBUS_PORT: "0", ROOMBUS_DATA_DIR: dataDir, ROOMBUS_JWT_SECRET: TEST_SECRET, ROOMBUS_LOG_LEVEL: "trace",
      // No skew allowance, so expiry tests take seconds, not half a minute.
      ROOMBUS_CLOCK_TOLERANCE_S: "0", ...overrides },
  );
  const logChunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logChunks.push(chunk.toString("utf8"));
      callback();
    },
  });
  const server = await startServer(config, { logger: createLogger(config.logLevel, destination) });
  const clients: RoomClient[] = [];
  const secret = new TextEncoder().encode(config.jwtSecret ?? TEST_SECRET);

  const token = (identity: string, options: TokenOptions = {}) =>
    mintToken(
      { secret, issuer: config.issuer, audience: config.audience },
      { room: TEST_ROOM, api: ["messaging", "toolkits"], ...options, identity, ttlSeconds: options.ttlSeconds ?? 300 },
    );

  return {
    server,
    config,
    get logs() {
      return logChunks
        .join("")
        .split("\n")
        .filter((line) => line.length > 0)
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    },
    logText: () => logChunks.join(""),
    token,
    async connect(identity, options = {}) {
      const client = await connect(server.roomUrl(options.room ?? TEST_ROOM), await token(identity, options));
      clients.push(client);
      return client;
    },
    async [Symbol.asyncDispose]() {
      await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
