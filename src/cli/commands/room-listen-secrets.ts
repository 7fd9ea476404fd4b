/**
 * The `room listen` watcher for secret requests addressed to this participant: it shows each request and asks for
 * the value at the terminal (or reads the next line of stdin), one request at a time; the others wait in arrival
 * order. A withdrawn or expired request (`secrets.request_cancelled`) leaves the queue, or ends its prompt, with a
 * line saying so. With `answer` off it only prints.
 */
import type { RoomClient, SecretRequest } from "../../client/index.js";
import type { EventData } from "../../protocol/events.js";
import { isRoombusError } from "../../protocol/errors.js";
import { openAnswerReader, type AnswerReader, type ReadOutcome } from "../answer-reader.js";
import { printable } from "../args.js";
import { jsonLine } from "../output.js";
import type { Printer, Watcher } from "./room-listen.js";
import { explainSecretsError } from "./room-session.js";

export const ANSWER_PROMPT = "Provide a value (empty line rejects):";
export const DECLINE_REASON = "declined at the terminal";

type CancelReason = EventData<"secrets.request_cancelled">["reason"];

const CANCEL_WORDS: Record<CancelReason, string> = {
  timeout: "it expired",
  requester_left: "the requester left",
  answered_elsewhere: "it was answered elsewhere",
  cancelled: "it was cancelled",
};

/** The watcher; `answer` false only prints requests and their withdrawal (`--no-answer`). */
export function watchSecretRequests(answer: boolean): Watcher {
  return (client, printer) => new SecretRequestWatch(client, printer, answer).unsubscribe;
}

class SecretRequestWatch {
  readonly unsubscribe: () => void;
  /** Waiting for their turn at the prompt, oldest first. */
  readonly #queue: SecretRequest[] = [];
  /** Printed but not prompted for (only printing, or stdin closed): kept to report their withdrawal. */
  readonly #shown = new Map<string, SecretRequest>();
  #active: { request: SecretRequest; abort: AbortController } | undefined;
  #reader: AnswerReader | undefined;
  #pumping = false;
  #closed = false;

  constructor(
    private readonly client: RoomClient,
    private readonly printer: Printer,
    private answering: boolean,
  ) {
    // A terminal is read from the start, so that what is typed before a prompt is dropped instead of answering it.
    if (answering && printer.io.stdin.isTTY === true) this.#reader = openAnswerReader(printer.io);
    const offRequest = client.on("secrets.request_secret", (request) => this.#arrived(request));
    const offCancelled = client.on("secrets.request_cancelled", (data) => this.#cancelled(data.request_id, data.reason));
    this.unsubscribe = () => {
      this.#closed = true;
      offRequest();
      offCancelled();
      this.#active?.abort.abort();
      this.#reader?.close();
    };
  }

  #arrived(request: SecretRequest): void {
    if (!this.answering) {
      this.#show(request);
      return;
    }
    this.#queue.push(request);
    if (this.#active !== undefined && !this.printer.json) {
      this.printer.io.out(
        `secret request from ${printable(request.from_identity)} for ${printable(request.url)} waits until the one ` +
          `being answered is done (${this.#queue.length} waiting)`,
      );
    }
    this.#pump().catch((error: unknown) => {
      this.printer.io.err(`roombus: answering secret requests stopped: ${error instanceof Error ? error.message : String(error)}`);
      this.printer.stop();
    });
  }

  #cancelled(requestId: string, reason: CancelReason): void {
    const active = this.#active;
    if (active?.request.request_id === requestId) {
      // Aborting first ends the prompt's line, so the note starts on a line of its own.
      active.abort.abort();
      this.#printCancelled(active.request, reason);
      return;
    }
    const index = this.#queue.findIndex((request) => request.request_id === requestId);
    if (index >= 0) {
      this.#printCancelled(this.#queue.splice(index, 1)[0]!, reason);
      return;
    }
    const shown = this.#shown.get(requestId);
    if (shown !== undefined) {
      this.#shown.delete(requestId);
      this.#printCancelled(shown, reason);
    }
  }

  /** Prompts for the queued requests one by one until the queue is empty; only one pump runs at a time. */
  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      for (let request = this.#queue.shift(); request !== undefined; request = this.#queue.shift()) {
        if (this.#closed || !this.answering) return;
        if (request.expires_at <= Date.now()) {
          this.#note(`the secret request from ${printable(request.from_identity)} for ${printable(request.url)} expired before its turn`);
          continue;
        }
        const abort = new AbortController();
        this.#active = { request, abort };
        this.#print(request);
        this.#reader ??= openAnswerReader(this.printer.io);
        let outcome: ReadOutcome;
        try {
          outcome = await this.#reader.read(ANSWER_PROMPT, abort.signal);
        } finally {
          this.#active = undefined;
        }
        await this.#settle(request, outcome);
      }
    } finally {
      this.#pumping = false;
    }
  }

  async #settle(request: SecretRequest, outcome: ReadOutcome): Promise<void> {
    switch (outcome.kind) {
      case "aborted":
        return;
      case "value":
        await this.#reply(request, outcome.data);
        return;
      case "interrupt":
        await this.#reply(request, Buffer.alloc(0));
        this.printer.stop();
        return;
      case "end": {
        // Rejecting everything would also take the question away from the identity's other sessions (a browser
        // page, say); leaving the requests open lets them answer, or the requests time out.
        this.answering = false;
        this.printer.io.err(
          "roombus: stdin is closed, so secret requests are no longer answered here; they stay open for other sessions " +
            "of this identity until they expire",
        );
        const waiting = [request, ...this.#queue.splice(0)];
        for (const open of waiting) this.#show(open, { printed: open === request });
        return;
      }
    }
  }

  async #reply(request: SecretRequest, data: Buffer): Promise<void> {
    const from = printable(request.from_identity);
    const url = printable(request.url);
    try {
      if (data.byteLength === 0) {
        await this.client.secrets.rejectSecret({ request_id: request.request_id, reason: DECLINE_REASON });
        this.#note(`declined the secret request from ${from} for ${url}`);
      } else {
        await this.client.secrets.provideSecret({ request_id: request.request_id, data });
        this.#note(`provided the value for ${url} to ${from}`);
      }
    } catch (error) {
      if (!isRoombusError(error)) throw error;
      this.printer.io.err(`roombus: ${explainSecretsError(`answering the secret request from ${from}`, error)}`);
    }
  }

  #show(request: SecretRequest, options: { printed?: boolean } = {}): void {
    this.#shown.set(request.request_id, request);
    if (options.printed !== true) this.#print(request);
  }

  #print(request: SecretRequest): void {
    const { io, json } = this.printer;
    if (json) {
      io.out(jsonLine({ event: "secrets.request_secret", ...request }));
      return;
    }
    const delegate = request.delegate_to === undefined ? "" : `, delegated to ${printable(request.delegate_to)}`;
    const seconds = Math.max(0, Math.round((request.expires_at - Date.now()) / 1000));
    io.out(
      `secret request from ${printable(request.from_identity)} (${request.from_participant_id}) for ${printable(request.url)}, ` +
        `type ${printable(request.type)}${delegate}, expires ${new Date(request.expires_at).toISOString()} (in ${seconds} s)`,
    );
    if (request.prompt !== undefined && request.prompt.length > 0) io.out(`  prompt: ${printable(request.prompt)}`);
  }

  #printCancelled(request: SecretRequest, reason: CancelReason): void {
    const { io, json } = this.printer;
    if (json) {
      io.out(jsonLine({ event: "secrets.request_cancelled", request_id: request.request_id, reason }));
      return;
    }
    io.out(`the secret request from ${printable(request.from_identity)} for ${printable(request.url)} was withdrawn: ${CANCEL_WORDS[reason]}`);
  }

  /** What this watcher did: a line of output, or of diagnostics in JSON mode (stdout then carries only events). */
  #note(text: string): void {
    if (this.printer.json) this.printer.io.err(text);
    else this.printer.io.out(text);
  }
}
