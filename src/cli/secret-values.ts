/**
 * Where a secret's value comes from (`--in FILE`, `--in -`, `--text`, `--base64`) and where it goes (`--out FILE`
 * with mode 0600, or stdout as raw bytes). A value is never put into an error message.
 */
import { open, readFile } from "node:fs/promises";
import { MAX_SECRET_BYTES } from "../protocol/limits.js";
import { CliError, describeFileError, usageError, type Io } from "./args.js";

export const TEXT_TYPE = "text/plain";
export const BINARY_TYPE = "application/octet-stream";

export interface ValueFlags {
  in?: string | undefined;
  text?: string | undefined;
  base64?: string | undefined;
}

export interface Value {
  data: Uint8Array;
  /** The type to store when `--type` is not given: text for `--text`, bytes otherwise. */
  defaultType: string;
}

/** Reads the value from exactly one of --in, --text and --base64 (a UsageError for none or several). */
export async function readValue(command: string, flags: ValueFlags, io: Io): Promise<Value> {
  const given = (["in", "text", "base64"] as const).filter((flag) => flags[flag] !== undefined);
  if (given.length !== 1) {
    const problem = given.length === 0 ? "no value given" : `${given.map((flag) => `--${flag}`).join(" and ")} ${given.length === 2 ? "both" : "all"} given`;
    throw usageError(command, `${problem}: give exactly one of --in FILE (- for stdin), --text STRING and --base64 B64`);
  }
  let value: Value;
  if (flags.text !== undefined) {
    io.err("roombus: warning: --text leaves the value in shell history and ps; prefer --in - (stdin)");
    value = { data: Buffer.from(flags.text, "utf8"), defaultType: TEXT_TYPE };
  } else if (flags.base64 !== undefined) {
    value = { data: decodeBase64(command, flags.base64), defaultType: BINARY_TYPE };
  } else {
    const path = flags.in ?? "-";
    value = { data: path === "-" ? await readStdin(io) : await readValueFile(path), defaultType: BINARY_TYPE };
  }
  checkSize(value.data);
  return value;
}

function decodeBase64(command: string, text: string): Uint8Array {
  // Buffer's decoder skips what it does not understand; a typo should not silently store other bytes.
  const compact = text.replace(/\s+/g, "").replace(/-/g, "+").replace(/_/g, "/");
  const unpadded = compact.replace(/=+$/, "");
  if (!/^[A-Za-z0-9+/]*$/.test(unpadded) || unpadded.length % 4 === 1 || compact.length - unpadded.length > 2) {
    throw usageError(command, "--base64 is not valid base64");
  }
  return Buffer.from(unpadded, "base64");
}

async function readStdin(io: Io): Promise<Uint8Array> {
  if (io.stdin.isTTY === true) io.err("reading the value from the terminal; end it with Ctrl-D (the bytes are kept as typed)");
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of io.stdin) {
    const bytes = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : (chunk as Buffer);
    total += bytes.byteLength;
    // Stop early: no point reading a large file to its end only to refuse it.
    if (total > MAX_SECRET_BYTES) tooLarge(`more than ${MAX_SECRET_BYTES}`);
    chunks.push(bytes);
  }
  return Buffer.concat(chunks);
}

async function readValueFile(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new CliError(`cannot read ${path}: ${describeFileError(error)}`, { cause: error });
  }
}

function checkSize(data: Uint8Array): void {
  if (data.byteLength > MAX_SECRET_BYTES) tooLarge(String(data.byteLength));
}

function tooLarge(size: string): never {
  throw new CliError(`the value is ${size} bytes; a secret holds at most ${MAX_SECRET_BYTES} bytes (64 KiB)`);
}

/**
 * Writes a value to `out` (created or replaced with mode 0600, nothing added) or, without `out` or with "-", to
 * stdout as raw bytes, plus a newline when stdout is a terminal so the shell prompt does not run into it.
 */
export async function writeValue(data: Uint8Array, out: string | undefined, io: Io): Promise<void> {
  if (out === undefined || out === "-") {
    await io.outBytes(data);
    if (io.stdoutIsTTY) await io.outBytes(Buffer.from("\n"));
    return;
  }
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(out, "w", 0o600);
    // An existing file keeps its mode when opened; the value must not be readable by others either way.
    await handle.chmod(0o600);
    await handle.writeFile(data);
  } catch (error) {
    throw new CliError(`cannot write ${out}: ${describeFileError(error)}`, { cause: error });
  } finally {
    await handle?.close();
  }
}
