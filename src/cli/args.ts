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
  /** Raw bytes on stdout with nothing added (a secret's value); resolves once they are handed to the OS. */
  outBytes(bytes: Uint8Array): Promise<void>;
  /** Whether stdout is a terminal: a value printed there gets a newline so the prompt starts on its own line. */
  stdoutIsTTY: boolean;
  /** Values (`--in -`) and answers to secret requests (`room listen`) come from here. */
  stdin: NodeJS.ReadStream;
  /** Where an interactive prompt goes, without a newline: the cursor stays after it. */
  prompt(text: string): void;
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
  outBytes: (bytes) =>
    new Promise((resolve, reject) => {
      process.stdout.write(bytes, (error) => (error === null || error === undefined ? resolve() : reject(error)));
    }),
  stdoutIsTTY: process.stdout.isTTY === true,
  stdin: process.stdin,
  prompt: (text) => {
    process.stderr.write(text);
  },
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

/**
 * parseFlags for a command that also takes up to `maxPositionals` plain arguments (`room secret delete ID`).
 */
export function parseFlagsAndArguments<const O extends OptionSpec>(
  command: string,
  usage: string,
  options: O,
  argv: string[],
  maxPositionals: number,
): { values: ParsedValues<O>; positionals: string[] } {
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options: { ...options, ...HELP_OPTION }, strict: true, allowPositionals: true });
  } catch (error) {
    if (argv.includes("--help") || argv.includes("-h")) throw new HelpRequest(usage);
    throw usageError(command, describeParseError(error));
  }
  if (parsed.values.help === true) throw new HelpRequest(usage);
  const extra = parsed.positionals[maxPositionals];
  if (extra !== undefined) throw usageError(command, `unexpected argument ${printable(extra)}`);
  return { values: parsed.values as ParsedValues<O>, positionals: parsed.positionals };
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

export function checkIdentity(command: string, identity: string, flag = "identity"): string {
  if (!IDENTITY_PATTERN.test(identity)) {
    throw usageError(
      command,
      `--${flag} must be letters, digits, '.', '_', ':', '@' or '-' (at most 128, starting with a letter or digit)`,
    );
  }
  return identity;
}

/** An optional identity flag: undefined when absent, checked when given. */
export function optionalIdentity(command: string, flag: string, value: string | undefined): string | undefined {
  return value === undefined ? undefined : checkIdentity(command, value, flag);
}

/** A whole number flag within bounds, or a UsageError naming the flag and the bounds. */
export function parseIntegerFlag(command: string, flag: string, value: string, min: number, max: number): number {
  const number = /^\d{1,10}$/.test(value.trim()) ? Number(value.trim()) : Number.NaN;
  if (!Number.isSafeInteger(number) || number < min || number > max) {
    throw usageError(command, `--${flag} must be a whole number from ${min} to ${max}`);
  }
  return number;
}

/** Why a file could not be read or written, in words. */
export function describeFileError(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  switch (code) {
    case "ENOENT":
      return "no such file or directory";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EISDIR":
      return "it is a directory";
    case "ENOTDIR":
      return "a part of the path is not a directory";
    default:
      return typeof code === "string" ? code : error instanceof Error ? error.message : String(error);
  }
}

/** Collapses a message to one line with no control characters, so it can't break the terminal or a log line. */
export function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, " ").replace(/\s+/g, " ").trim();
}

/** Shows text that came from someone else with its control characters escaped instead of interpreted. */
/**
 * Runs the subcommand of a command group (`roombus room …`, `roombus keys …`): the first word picks one of
 * `subcommands` (named "<group> <word>"), `--help` prints `usage`, anything else is a usage mistake naming the group.
 */
export function runSubcommand(group: string, usage: string, subcommands: readonly Command[], argv: string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) throw new UsageError(`roombus ${group}: missing command; see \`roombus ${group} --help\``);
  if (name === "--help" || name === "-h" || name === "help") throw new HelpRequest(usage);
  const command = subcommands.find((candidate) => candidate.name === `${group} ${name}`);
  if (command === undefined) {
    throw new UsageError(`roombus ${group}: unknown command "${printable(name)}"; see \`roombus ${group} --help\``);
  }
  return command.run(rest, io);
}

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
