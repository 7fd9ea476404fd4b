#!/usr/bin/env node
/**
 * The `roombus` command: picks the subcommand and turns whatever ends it into an exit code and at most one line on
 * stderr (plus the stack when ROOMBUS_DEBUG=1). Exit codes: 0 done, 1 could not do it, 2 usage mistake.
 */
import { ConnectError } from "../client/index.js";
import { ConfigError } from "../config.js";
import { isRoombusError } from "../protocol/errors.js";
import { CliError, HelpRequest, oneLine, printable, processIo, UsageError, type Command, type Io } from "./args.js";
import { auditCommand } from "./commands/audit.js";
import { demoCommand } from "./commands/demo.js";
import { keysCommand } from "./commands/keys.js";
import { projectCommand } from "./commands/project.js";
import { roomCommand } from "./commands/room.js";
import { runCommand } from "./commands/run.js";
import { serveCommand } from "./commands/serve.js";
import { serviceCommand } from "./commands/service.js";
import { tokenCommand } from "./commands/token.js";
import { readVersion } from "./version.js";

const COMMANDS: readonly Command[] = [
  serveCommand,
  tokenCommand,
  roomCommand,
  runCommand,
  serviceCommand,
  projectCommand,
  auditCommand,
  keysCommand,
  demoCommand,
];

const USAGE = `Usage: roombus <command> [flags]

roombus is a real-time room message bus with a secrets broker.

Commands:
  serve                run a roombus server
  token                mint a token for a participant
  room participants    list who is in a room
  room send            send a message to one participant or to everyone
  room listen          stay in a room, printing presence and messages as they arrive, and answering
                       secret requests at the terminal
  room secret          store, read, list and delete your secrets; ask another participant for one
  run                  start a command with a service spec's secrets in its environment
  service install      install a ServiceTemplate: store its secret variables as room secrets
  project secret       the project's secrets, key collections and image-pull secrets (REST API, admin token)
  audit                print the audit trail of secrets ops (from the data directory)
  keys rotate          start a new data key and re-wrap all data keys under the current master key
  demo oauth-provider  run a local demo OAuth authorization server to try \`room secret oauth\` with (not for
                       production)

Flags:
  -h, --help           show help (also after any command: roombus token --help)
  -V, --version        print the version

Environment: ROOMBUS_URL and ROOMBUS_TOKEN for the room commands; ROOMBUS_* settings for serve, token, audit, keys;
ROOMBUS_DEBUG=1 adds the stack trace to an error.

Example:
  roombus serve &
  export ROOMBUS_TOKEN=$(roombus token --identity alice --room demo)
  roombus room listen --room demo`;

async function dispatch(argv: string[], io: Io): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) throw new UsageError("roombus: missing command; see `roombus --help`");
  if (first === "--help" || first === "-h" || first === "help") throw new HelpRequest(USAGE);
  if (first === "--version" || first === "-V") {
    io.out(readVersion());
    return 0;
  }
  if (first.startsWith("-")) throw new UsageError(`roombus: unknown option ${printable(first)}; see \`roombus --help\``);
  const command = COMMANDS.find((candidate) => candidate.name === first);
  if (command === undefined) throw new UsageError(`roombus: unknown command "${printable(first)}"; see \`roombus --help\``);
  return command.run(rest, io);
}

/** Prints what ended the command and returns the exit code. */
function report(error: unknown, io: Io): number {
  if (error instanceof HelpRequest) {
    io.out(error.text);
    return 0;
  }
  if (error instanceof UsageError) {
    io.err(oneLine(error.message));
    return 2;
  }
  io.err(`roombus: ${oneLine(describe(error))}`);
  if (io.env.ROOMBUS_DEBUG === "1" && error instanceof Error && error.stack !== undefined) io.err(error.stack);
  return 1;
}

function describe(error: unknown): string {
  if (error instanceof CliError || error instanceof ConfigError || error instanceof ConnectError) return error.message;
  if (isRoombusError(error)) return `${error.message} (${error.errorName} ${error.code})`;
  const message = error instanceof Error ? error.message : String(error);
  return `unexpected error: ${message} (run with ROOMBUS_DEBUG=1 for the stack trace)`;
}

async function main(): Promise<void> {
  // `roombus room listen | head` closes stdout early; that is the reader's choice, not an error.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(0);
    throw error;
  });
  let code: number;
  try {
    code = await dispatch(process.argv.slice(2), processIo);
  } catch (error) {
    code = report(error, processIo);
  }
  process.exitCode = code;
}

await main();
