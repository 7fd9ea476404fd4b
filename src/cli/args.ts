/**
 * What every command shares: flag parsing with `node:util` parseArgs, the three ways a command ends early (help,
 * a usage mistake, a runtime failure), and where output goes. Results go to stdout, diagnostics to stderr.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { IDENTITY_PATTERN, ROOM_NAME_PATTERN } from "../protocol/common.js";

/** The person typed something the command does not take: one line on stderr, exit 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** The command understood the request but could not do it: `roombus: <message>` on stderr, exit 1. */
export class CliError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CliError";
  }
}

/** `--help` was given: the usage text goes to stdout and the exit code is 0. Thrown to end parsing at once. */
export class HelpRequest extends Error {
  constructor(readonly text: string) {
    super("help requested");
    this.name = "HelpRequest";
  }
}

export interface Io {
  env: NodeJS.ProcessEnv;
  /** One line (or block) of result on stdout. */
  out(text: string): void;
  /** One line of diagnostics on stderr. */
  err(text: string): void;
  /** Ends the process; used by `serve`, whose backends may hold handles open after draining. */
  exit(code: number): void;
}

export const processIo: Io = {
  env: process.env,
  out: (text) => {
    process.stdout.write(`${text}\n`);
  },
  err: (text) => {
    process.stderr.write(`${text}\n`);
  },
  exit: (code) => process.exit(code),
};

export interface Command {
  /** As typed after `roombus`, e.g. "room send". */
  name: string;
  /** One line for the command list. */
  summary: string;
  run(argv: string[], io: Io): Promise<number>;
}

export type OptionSpec = NonNullable<ParseArgsConfig["options"]>;

type ParsedValues<O extends OptionSpec> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: false }>
>["values"];

const HELP_OPTION = { help: { type: "boolean", short: "h" } } as const;

/**
 * Parses `argv` strictly against `options` (plus `-h/--help`). Throws HelpRequest when help was asked for, even next
 * to a mistake, and UsageError naming the first problem otherwise.
 */
export function parseFlags<const O extends OptionSpec>(
  command: string,
  usage: string,
  options: O,
  argv: string[],
): ParsedValues<O> {
  let values: Record<string, unknown>;
  try {
    values = parseArgs({ args: argv, options: { ...options, ...HELP_OPTION }, strict: true, allowPositionals: false }).values;
  } catch (error) {
    if (argv.includes("--help") || argv.includes("-h")) throw new HelpRequest(usage);
    throw usageError(command, describeParseError(error));
  }
  if (values.help === true) throw new HelpRequest(usage);
  return values as ParsedValues<O>;
}

/** A UsageError in the one format every command uses. */
export function usageError(command: string, problem: string): UsageError {
  return new UsageError(`roombus ${command}: ${problem}; see \`roombus ${command} --help\``);
}

function describeParseError(error: unknown): string {
  const { code, message } = error as { code?: unknown; message?: unknown };
  const text = typeof message === "string" ? message : "";
  const quoted = /'([^']+)'/.exec(text)?.[1];
  switch (code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown option ${quoted ?? ""}`.trimEnd();
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return `unexpected argument ${quoted ?? ""}`.trimEnd();
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE": {
      const flag = quoted?.split(" ")[0] ?? "an option";
      if (/does not take an argument/.test(text)) return `${flag} takes no value`;
      return `${flag} needs a value`;
    }
    default:
      return text.split(/\.\s/)[0] ?? "invalid arguments";
  }
}

/** The value of a required flag, or a UsageError naming it. */
export function requireFlag(command: string, flag: string, value: string | undefined): string {
  if (value === undefined || value.length === 0) throw usageError(command, `--${flag} is required`);
  return value;
}

export function checkRoomName(command: string, room: string, options: { allowAny?: boolean } = {}): string {
  if (options.allowAny === true && room === "*") return room;
  if (!ROOM_NAME_PATTERN.test(room)) {
    throw usageError(
      command,
      "--room must be letters, digits, '.', '_' or '-' (at most 128, starting with a letter or digit)",
    );
  }
  return room;
}

export function checkIdentity(command: string, identity: string): string {
  if (!IDENTITY_PATTERN.test(identity)) {
    throw usageError(
      command,
      "--identity must be letters, digits, '.', '_', ':', '@' or '-' (at most 128, starting with a letter or digit)",
    );
  }
  return identity;
}

/** Collapses a message to one line with no control characters, so it can't break the terminal or a log line. */
export function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, " ").replace(/\s+/g, " ").trim();
}

/** Shows text that came from someone else with its control characters escaped instead of interpreted. */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** Calls `handler` on SIGINT or SIGTERM until the returned function removes it. */
export function onStopSignal(handler: (signal: NodeJS.Signals) => void): () => void {
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  return () => {
    process.off("SIGINT", handler);
    process.off("SIGTERM", handler);
  };
}
