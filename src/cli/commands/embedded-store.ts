/** What `audit` and `keys rotate` share: the server's configuration and its embedded store, opened from the CLI. */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { loadConfig, type Config } from "../../config.js";
import { SQLITE_FILE } from "../../main.js";
import { SqliteStore } from "../../secrets/sqlite-store.js";
import { CliError } from "../args.js";

/** The configuration as the server would read it, with `--data-dir` on top of ROOMBUS_DATA_DIR. */
export function loadServerConfig(env: NodeJS.ProcessEnv, dataDir: string | undefined): Config {
  return loadConfig(env, dataDir === undefined ? {} : { ROOMBUS_DATA_DIR: dataDir });
}

/**
 * Opens the embedded store of the data directory. Refuses (one line) with a Redis backend, which this command
 * cannot read yet, and when the file is missing: opening would create an empty store, which helps nobody.
 */
export function openEmbeddedStore(command: string, config: Config): SqliteStore {
  if (config.redisUrl !== undefined) {
    throw new CliError(`ROOMBUS_REDIS_URL is set: \`roombus ${command}\` does not support the Redis store yet`);
  }
  const path = join(config.dataDir, SQLITE_FILE);
  if (!existsSync(path)) throw new CliError(`no store at ${path} (did the server run with this --data-dir?)`);
  return new SqliteStore(path);
}
