/**
 * `roombus keys rotate`: a new data key encrypts from now on, and every data key is re-wrapped under the current
 * master key, so old master keys can leave the configuration. Works on the server's store: SQLite in the data directory, or Redis with ROOMBUS_REDIS_URL.
 */
import { resolveMasterKeys } from "../../config.js";
import { rotateKeys, type RotationReport } from "../../secrets/key-management.js";
import { KeyringError } from "../../secrets/keyring.js";
import { CliError, type Command, type Io, parseFlags, runSubcommand } from "../args.js";
import { loadServerConfig, openServerStore } from "./server-store.js";

const ROTATE_USAGE = `Usage: roombus keys rotate [flags]

Adds a new data key, which encrypts every secret written from now on (existing secrets stay readable with the
data keys they were written with), and re-wraps every data key under the current master key: the key in
ROOMBUS_ENCRYPTION_KEY, or the encryption-key file in the data directory. Master keys that wrapped data keys before
must be listed in ROOMBUS_ENCRYPTION_KEYS_OLD for this run; afterwards they can be removed.
Running servers keep using the data key they loaded: restart them.

To replace the master key: set the new one in ROOMBUS_ENCRYPTION_KEY and the old one in ROOMBUS_ENCRYPTION_KEYS_OLD,
run \`roombus keys rotate\`, restart the servers with only the new key.

Flags:
  --data-dir DIR       the server's data directory (ROOMBUS_DATA_DIR, default ./.roombus)
  -h, --help           show this help

Example:
  ROOMBUS_ENCRYPTION_KEY=$(openssl rand -base64 32) ROOMBUS_ENCRYPTION_KEYS_OLD=$(cat /var/lib/roombus/encryption-key) \\
    roombus keys rotate --data-dir /var/lib/roombus`;

const ROTATE_OPTIONS = { "data-dir": { type: "string" } } as const;

const rotateCommand: Command = {
  name: "keys rotate",
  summary: "start a new data key and re-wrap all data keys under the current master key",
  run: runRotate,
};

async function runRotate(argv: string[], io: Io): Promise<number> {
  const values = parseFlags("keys rotate", ROTATE_USAGE, ROTATE_OPTIONS, argv);
  const config = loadServerConfig(io.env, values["data-dir"]);
  const store = await openServerStore(config);
  let report: RotationReport;
  try {
    const { masters } = resolveMasterKeys(config, { create: false });
    report = await rotateKeys(store, masters);
  } catch (error) {
    if (error instanceof KeyringError) throw new CliError(`nothing was changed: ${error.message}`, { cause: error });
    throw error;
  } finally {
    await store.close();
  }
  const plural = report.dataKeys === 1 ? "" : "s";
  io.out(
    `new data key ${report.newDataKeyId} encrypts from now on; ` +
      `${report.dataKeys} data key${plural}, ${report.rewrapped} re-wrapped under the current master key`,
  );
  io.out(
    config.oldEncryptionKeys.length > 0
      ? "restart running servers so they use the new key; old master keys in ROOMBUS_ENCRYPTION_KEYS_OLD can now be removed"
      : "restart running servers so they use the new key",
  );
  return 0;
}

const SUBCOMMANDS: readonly Command[] = [rotateCommand];

const USAGE = `Usage: roombus keys <command> [flags]

Manages the keys that encrypt secrets at rest in the server's store (SQLite in the data directory, or Redis when
ROOMBUS_REDIS_URL is set).

Commands:
${SUBCOMMANDS.map((command) => `  ${command.name.slice("keys ".length).padEnd(20)}${command.summary}`).join("\n")}

Run \`roombus keys <command> --help\` for its flags.

Example:
  roombus keys rotate --data-dir /var/lib/roombus`;

export const keysCommand: Command = {
  name: "keys",
  summary: "rotate the keys that encrypt secrets at rest",
  run: runKeys,
};

async function runKeys(argv: string[], io: Io): Promise<number> {
  return runSubcommand("keys", USAGE, SUBCOMMANDS, argv, io);
}
