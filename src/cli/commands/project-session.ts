/**
 * What the `project` commands share: where the server is and which token to use (as the room commands: --url /
 * ROOMBUS_URL, ROOMBUS_TOKEN), reading a value without putting it on the command line, and explaining a failed call.
 */
import { open } from "node:fs/promises";
import { ProjectApi, ProjectApiError } from "../../client/project-api.js";
import { CliError, describeFileError, parseFlagsAndArguments, usageError, type Io } from "../args.js";
import { DEFAULT_URL, resolveToken } from "./room-session.js";

export const PROJECT_OPTIONS = {
  url: { type: "string" },
  token: { type: "string" },
} as const;

export const PROJECT_FLAGS_HELP = `  --url URL            the server, ws://HOST:PORT or http://HOST:PORT (ROOMBUS_URL, default ${DEFAULT_URL})
  --token TOKEN        a project admin token (ROOMBUS_TOKEN; prefer the variable: flags show up in ps)`;

export const ADMIN_TOKEN_HINT = "roombus token --identity ID --room '*' --api admin";

/** The largest value read from a file or stdin (the server's limit: it refuses larger ones anyway). */
export const MAX_VALUE_BYTES = 64 * 1024;

export interface ProjectFlags {
  url?: string | undefined;
  token?: string | undefined;
}

/** A client for the server the flags name, with the token they (or ROOMBUS_TOKEN) give. */
export function projectApi(command: string, flags: ProjectFlags, env: NodeJS.ProcessEnv): ProjectApi {
  const token = resolveToken(flags, env);
  if (token === undefined) {
    throw usageError(command, `no token: export ROOMBUS_TOKEN=$(${ADMIN_TOKEN_HINT}) (or pass --token)`);
  }
  const url = flags.url ?? (env.ROOMBUS_URL === undefined || env.ROOMBUS_URL === "" ? DEFAULT_URL : env.ROOMBUS_URL);
  try {
    return new ProjectApi({ url, token });
  } catch (error) {
    const source = flags.url === undefined && env.ROOMBUS_URL !== undefined ? "ROOMBUS_URL" : "--url";
    throw usageError(command, `${source}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/**
 * `roombus project secret <group> delete NAME`: the whole command for a record deleted by its name (a key collection,
 * an image-pull secret).
 */
export function deleteByNameCommand(spec: {
  group: string;
  /** What is deleted, as the messages name it: "key collection". */
  what: string;
  /** The usage's second paragraph. */
  description: string;
  example: string;
  remove: (api: ProjectApi, name: string) => Promise<unknown>;
}): (argv: string[], io: Io) => Promise<number> {
  const command = `project secret ${spec.group} delete`;
  const usage = `Usage: roombus ${command} NAME [flags]

${spec.description}

Flags:
${PROJECT_FLAGS_HELP}
  -h, --help           show this help

Example:
  roombus ${command} ${spec.example}`;
  return async (argv, io) => {
    const { values, positionals } = parseFlagsAndArguments(command, usage, PROJECT_OPTIONS, argv, 1);
    const [name] = positionals;
    if (name === undefined || name.length === 0) {
      throw usageError(command, `the ${spec.what}'s name is required, e.g. \`roombus ${command} ${spec.example}\``);
    }
    const api = projectApi(command, values, io.env);
    await withProjectApi(`deleting the ${spec.what}`, () => spec.remove(api, name));
    io.out("deleted");
    return 0;
  };
}

/** Runs one call; a failed one becomes a CliError saying what failed and what to do (never a value). */
export async function withProjectApi<T>(action: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof ProjectApiError) throw new CliError(explainProjectError(action, error), { cause: error });
    throw error;
  }
}

export function explainProjectError(action: string, error: ProjectApiError): string {
  const status = error.status === 0 ? error.code : `${error.code} ${error.status}`;
  const what = `${action} failed (${status}): ${error.message}`;
  if (error.status === 401 || error.status === 403) {
    return /roombus token/.test(error.message) ? what : `${what}; a project admin token comes from \`${ADMIN_TOKEN_HINT}\``;
  }
  if (error.status === 503 || error.code === "timeout") return `${what}; try again shortly`;
  return what;
}

/**
 * A value from stdin (`-`) or a file, as UTF-8 text (project values become environment variables). From stdin one
 * trailing newline is dropped, as `docker login --password-stdin` does: `echo` adds one that nobody means to store.
 * A file is taken exactly as it is.
 */
export async function readTextValue(
  command: string,
  source: "stdin" | { file: string },
  io: Io,
  maxBytes = MAX_VALUE_BYTES,
): Promise<string> {
  const bytes = source === "stdin" ? await readStdin(io, maxBytes) : await readFileBounded(source.file, maxBytes);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw usageError(command, "the value is not UTF-8 text (project values become environment variables)");
  }
  return source === "stdin" ? text.replace(/\r?\n$/, "") : text;
}

function tooLarge(maxBytes: number): CliError {
  return new CliError(`the input is larger than ${maxBytes} bytes, the most the server takes here`);
}

async function readStdin(io: Io, maxBytes: number): Promise<Buffer> {
  if (io.stdin.isTTY === true) io.err("reading the value from the terminal; end it with Ctrl-D");
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of io.stdin) {
    const bytes = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : (chunk as Buffer);
    total += bytes.byteLength;
    // Stop early: no point reading a large input to its end only to refuse it.
    if (total > maxBytes) throw tooLarge(maxBytes);
    chunks.push(bytes);
  }
  return Buffer.concat(chunks);
}

async function readFileBounded(path: string, maxBytes: number): Promise<Buffer> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  let bytes: Buffer;
  try {
    handle = await open(path, "r");
    // One byte more than allowed: reading it proves the file is too large without reading all of it.
    const buffer = Buffer.alloc(maxBytes + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length);
      length += bytesRead;
      if (bytesRead === 0 || length === buffer.length) break;
    }
    bytes = buffer.subarray(0, length);
  } catch (error) {
    throw new CliError(`cannot read ${path}: ${describeFileError(error)}`, { cause: error });
  } finally {
    await handle?.close();
  }
  if (bytes.byteLength > maxBytes) throw tooLarge(maxBytes);
  return bytes;
}

/** Rows under a header, columns padded to line up (the last one is not padded). */
export function formatTable(header: string[], rows: string[][]): string[] {
  const table = [header, ...rows];
  const widths = header.map((_, column) => Math.max(...table.map((row) => row[column]!.length)));
  return table.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join("  "));
}
