/** What `audit` and `keys rotate` share: the server's configuration and its store (SQLite or Redis), opened from the CLI. */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { loadConfig, type Config } from "../../config.js";
import { SQLITE_FILE } from "../../main.js";
import { createRedisStore } from "../../secrets/redis-store.js";
import type { SecretStore } from "../../secrets/secret-store.js";
import { SqliteStore } from "../../secrets/sqlite-store.js";
import { CliError } from "../args.js";

/** The configuration as the server would read it, with `--data-dir` on top of ROOMBUS_DATA_DIR. */
export function loadServerConfig(env: NodeJS.ProcessEnv, dataDir: string | undefined): Config {
  return loadConfig(env, dataDir === undefined ? {} : { ROOMBUS_DATA_DIR: dataDir });
}

/**
 * Opens the store the server uses: Redis when ROOMBUS_REDIS_URL is set, else the data directory's SQLite file,
 * refused (one line) when missing: opening would create an empty store, which helps nobody.
 */
export async function openServerStore(config: Config): Promise<SecretStore> {
  if (config.redisUrl !== undefined) {
    try {
      return await createRedisStore({ url: config.redisUrl, cluster: config.redisCluster });
    } catch (error) {
      throw new CliError(error instanceof Error ? error.message : "cannot reach Redis");
    }
  }
  const path = join(config.dataDir, SQLITE_FILE);
  if (!existsSync(path)) throw new CliError(`no store at ${path} (did the server run with this --data-dir?)`);
  return new SqliteStore(path);
}
