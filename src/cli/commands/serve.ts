/** `roombus serve`: reads the configuration, starts the server, drains it on SIGTERM/SIGINT. */
import { ConfigError, loadConfig, type Config, type ConfigInput } from "../../config.js";
import { startServer, type RoombusServer } from "../../main.js";
import { CliError, onStopSignal, parseFlags, type Command, type Io } from "../args.js";

const USAGE = `Usage: roombus serve [flags]

Runs a roombus server. Settings come from ROOMBUS_* environment variables; each flag overrides its variable.
With no signing key configured, the first start creates one in the data directory and says so.
SIGTERM or Ctrl-C drains: new connections are refused, open sockets are closed with 1001, then it exits 0.
A second signal exits at once (code 1).

Flags:
  --host HOST          address to listen on (ROOMBUS_HOST, default 127.0.0.1)
  --port PORT          port to listen on, 0 for any free one (ROOMBUS_PORT, default 8765)
  --data-dir DIR       where the embedded store and generated keys live (ROOMBUS_DATA_DIR, default ./.roombus)
  --redis-url URL      redis:// or rediss:// URL: run as one node of a cluster (ROOMBUS_REDIS_URL; unset = embedded)
  --log-level LEVEL    fatal, error, warn, info, debug, trace or silent (ROOMBUS_LOG_LEVEL, default info)
  -h, --help           show this help

Other settings (ROOMBUS_JWT_SECRET, ROOMBUS_ENCRYPTION_KEY, ROOMBUS_ALLOWED_ORIGINS, ...) are environment only; for
Redis Cluster, set ROOMBUS_REDIS_CLUSTER=true and give the seed nodes comma-separated in --redis-url. The README's
"Configuration" section lists them all.

Example:
  ROOMBUS_JWT_SECRET=$(openssl rand -base64 32) roombus serve --port 8765 --data-dir /var/lib/roombus`;

const OPTIONS = {
  host: { type: "string" },
  port: { type: "string" },
  "data-dir": { type: "string" },
  "redis-url": { type: "string" },
  "log-level": { type: "string" },
} as const;

const VARIABLE_OF_FLAG = {
  host: "ROOMBUS_HOST",
  port: "ROOMBUS_PORT",
  "data-dir": "ROOMBUS_DATA_DIR",
  "redis-url": "ROOMBUS_REDIS_URL",
  "log-level": "ROOMBUS_LOG_LEVEL",
} as const satisfies Record<keyof typeof OPTIONS, keyof ConfigInput>;

export const serveCommand: Command = {
  name: "serve",
  summary: "run a roombus server",
  run: runServe,
};

async function runServe(argv: string[], io: Io): Promise<number> {
  const values = parseFlags("serve", USAGE, OPTIONS, argv);
  const overrides: Partial<Record<keyof ConfigInput, string>> = {};
  for (const flag of Object.keys(VARIABLE_OF_FLAG) as (keyof typeof VARIABLE_OF_FLAG)[]) {
    const value = values[flag];
    if (value !== undefined) overrides[VARIABLE_OF_FLAG[flag]] = value;
  }
  const config = loadConfigNamingFlags(io.env, overrides);

  let server: RoombusServer;
  try {
    server = await startServer(config);
  } catch (error) {
    throw new CliError(describeStartFailure(error, config), { cause: error });
  }

  await new Promise<void>((resolve) => {
    const stop = onStopSignal(() => {
      stop();
      resolve();
    });
  });
  // Ctrl-C twice: the person does not want to wait for the drain.
  onStopSignal(() => {
    io.err("roombus: second signal: exiting without waiting for the drain to finish");
    io.exit(1);
  });
  try {
    await server.drain();
  } catch (error) {
    throw new CliError(`draining failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  // Backends may keep handles (Redis, timers) open after the drain; the drain is the end of the process.
  io.exit(0);
  return 0;
}

/** loadConfig, with a bad value that came from a flag reported under the flag's name. */
function loadConfigNamingFlags(env: NodeJS.ProcessEnv, overrides: Partial<Record<keyof ConfigInput, string>>): Config {
  try {
    return loadConfig(env, overrides);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const [flag, variable] of Object.entries(VARIABLE_OF_FLAG)) {
      if (overrides[variable] !== undefined && error.message.startsWith(`${variable}:`)) {
        throw new CliError(`--${flag}${error.message.slice(variable.length)}`, { cause: error });
      }
    }
    throw error;
  }
}

function describeStartFailure(error: unknown, config: Config): string {
  if (error instanceof ConfigError) return error.message;
  const code = (error as { code?: unknown }).code;
  if (code === "EADDRINUSE") {
    return `port ${config.port} on ${config.host} is already in use: stop the other process or choose another with --port`;
  }
  if (code === "EACCES") return `no permission to listen on ${config.host}:${config.port}: choose a port above 1023 with --port`;
  if (code === "EADDRNOTAVAIL") return `${config.host} is not an address of this machine: choose another with --host`;
  return `could not start: ${error instanceof Error ? error.message : String(error)}`;
}
