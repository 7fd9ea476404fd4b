/**
 * Reading answers to secret requests from stdin, one prompt at a time. On a terminal the value is read in raw mode
 * without echo (backspace edits, Ctrl-C interrupts); otherwise each line of stdin is one answer, so a script can pipe
 * answers in. An empty answer means "reject".
 */
import { createInterface } from "node:readline";
import type { Io } from "./args.js";

export type ReadOutcome =
  /** What was typed or piped; empty means the person declined. */
  | { kind: "value"; data: Buffer }
  /** stdin is closed: no answer will ever come from here. */
  | { kind: "end" }
  /** Ctrl-C at a terminal prompt (raw mode turns it into a key, not a signal). */
  | { kind: "interrupt" }
  /** The caller gave up waiting (the request was withdrawn, or listen is stopping). */
  | { kind: "aborted" };

export interface AnswerReader {
  /** Shows `prompt` and resolves with the next answer. */
  read(prompt: string, signal: AbortSignal): Promise<ReadOutcome>;
  /** Stops reading stdin and gives the terminal back as it was. */
  close(): void;
}

/** The reader that fits stdin: raw keys on a terminal, lines otherwise. */
export function openAnswerReader(io: Io): AnswerReader {
  const stdin = io.stdin;
  return stdin.isTTY === true && typeof stdin.setRawMode === "function" ? new TerminalReader(io) : new LineReader(io);
}

/** Every line of stdin is one answer; lines that arrive before a prompt wait for it (a script may answer ahead). */
class LineReader implements AnswerReader {
  readonly #io: Io;
  readonly #lines: string[] = [];
  readonly #interface;
  #ended = false;
  #waiter: ((outcome: ReadOutcome) => void) | undefined;

  constructor(io: Io) {
    this.#io = io;
    this.#interface = createInterface({ input: io.stdin, crlfDelay: Infinity, terminal: false });
    this.#interface.on("line", (line) => {
      const waiter = this.#waiter;
      this.#waiter = undefined;
      if (waiter === undefined) this.#lines.push(line);
      else waiter({ kind: "value", data: Buffer.from(line, "utf8") });
    });
    this.#interface.on("close", () => {
      this.#ended = true;
      const waiter = this.#waiter;
      this.#waiter = undefined;
      waiter?.({ kind: "end" });
    });
  }

  read(prompt: string, signal: AbortSignal): Promise<ReadOutcome> {
    if (signal.aborted) return Promise.resolve({ kind: "aborted" });
    this.#io.err(prompt);
    const line = this.#lines.shift();
    if (line !== undefined) return Promise.resolve({ kind: "value", data: Buffer.from(line, "utf8") });
    if (this.#ended) return Promise.resolve({ kind: "end" });
    return new Promise((resolve) => {
      const waiter = (outcome: ReadOutcome) => {
        signal.removeEventListener("abort", onAbort);
        resolve(outcome);
      };
      const onAbort = () => {
        if (this.#waiter === waiter) this.#waiter = undefined;
        resolve({ kind: "aborted" });
      };
      this.#waiter = waiter;
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  close(): void {
    this.#interface.close();
    // readline pauses its input on close; a paused stdin lets the process exit.
    this.#io.stdin.pause();
  }
}

interface ActivePrompt {
  chars: string[];
  finish: (outcome: ReadOutcome) => void;
}

/**
 * Leaving canonical mode releases whatever half line the terminal still buffered (keys typed before the request
 * came). Raw mode starts this long before the prompt is shown, and what arrives meanwhile is dropped; a person or
 * an `expect` script only types after seeing the prompt.
 */
const SETTLE_MS = 25;

/**
 * Keys from a terminal in raw mode, echoed as nothing. stdin is read from the moment the reader exists and what is
 * typed outside a prompt is dropped: otherwise a line typed earlier would sit in the terminal's buffer and become
 * the next answer.
 */
class TerminalReader implements AnswerReader {
  readonly #io: Io;
  #active: ActivePrompt | undefined;
  #closed = false;
  #ended = false;
  readonly #onData = (chunk: Buffer | string) => this.#receive(typeof chunk === "string" ? chunk : chunk.toString("utf8"));
  readonly #onEnd = () => {
    this.#ended = true;
    this.#active?.finish({ kind: "end" });
  };

  constructor(io: Io) {
    this.#io = io;
    io.stdin.on("data", this.#onData);
    io.stdin.on("end", this.#onEnd);
    io.stdin.resume();
  }

  async read(prompt: string, signal: AbortSignal): Promise<ReadOutcome> {
    if (signal.aborted) return { kind: "aborted" };
    if (this.#ended) return { kind: "end" };
    this.#io.stdin.setRawMode(true);
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    if (signal.aborted || this.#closed) {
      this.#restore();
      return { kind: "aborted" };
    }
    this.#io.prompt(`${prompt} `);
    return new Promise((resolve) => {
      const onAbort = () => finish({ kind: "aborted" });
      const finish = (outcome: ReadOutcome) => {
        if (this.#active !== active) return;
        this.#active = undefined;
        signal.removeEventListener("abort", onAbort);
        this.#restore();
        // The Enter key was not echoed; end the prompt's line here.
        this.#io.prompt("\n");
        resolve(outcome);
      };
      const active: ActivePrompt = { chars: [], finish };
      this.#active = active;
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  close(): void {
    this.#closed = true;
    this.#active?.finish({ kind: "aborted" });
    this.#io.stdin.off("data", this.#onData);
    this.#io.stdin.off("end", this.#onEnd);
    this.#restore();
    this.#io.stdin.pause();
  }

  #restore(): void {
    if (this.#io.stdin.isRaw === true) this.#io.stdin.setRawMode(false);
  }

  #receive(text: string): void {
    const active = this.#active;
    if (active === undefined) return;
    const chars = [...text];
    for (let index = 0; index < chars.length; index++) {
      const char = chars[index]!;
      switch (char) {
        case "\r":
        case "\n":
        case "\u0004": // Ctrl-D ends the answer as Enter does
          active.finish({ kind: "value", data: Buffer.from(active.chars.join(""), "utf8") });
          return;
        case "\u0003": // Ctrl-C
          active.finish({ kind: "interrupt" });
          return;
        case "\u007f":
        case "\b":
          active.chars.pop();
          break;
        case "\u0015": // Ctrl-U clears the line
          active.chars.length = 0;
          break;
        case "\u001b":
          // Arrow and function keys (ESC [ ... final, ESC O x) are keys, not part of a value.
          index = endOfEscape(chars, index);
          break;
        default:
          // Other control characters (Tab aside) are terminal keys, not text.
          if (char === "\t" || char >= " ") active.chars.push(char);
      }
    }
  }
}

/** The index of the last character of the escape sequence that starts at `start`. */
function endOfEscape(chars: readonly string[], start: number): number {
  const next = chars[start + 1];
  if (next === "O") return Math.min(start + 2, chars.length - 1);
  if (next !== "[") return start + (next === undefined ? 0 : 1);
  let index = start + 2;
  // CSI: parameter and intermediate bytes (0x20-0x3f), then one final byte (0x40-0x7e).
  while (index < chars.length && chars[index]! >= " " && chars[index]! <= "?") index++;
  return Math.min(index, chars.length - 1);
}
