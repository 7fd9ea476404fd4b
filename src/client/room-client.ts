/**
 * A participant's open session in one room: requests with ids and timeouts, typed events, the live participant
 * list, and toolkit hosting. Built by `connect` once `room.ready` has arrived; no timer outlives the socket.
 */
import type { Participant } from "../protocol/common.js";
import { errorFromWire, RoombusError, type WireError } from "../protocol/errors.js";
import type { EventData, EventName } from "../protocol/events.js";
import { decodeServerFrame, encodeRequest } from "../protocol/frames.js";
import { MAX_TEXT_CHARS } from "../protocol/limits.js";
import type { OpArgs, OpName, OpResult } from "../protocol/ops.js";
import { SecretsClient } from "./secrets.js";
import type { Socket } from "./socket.js";

export interface RequestOptions {
  /** Client-side deadline; defaults to the connection's `requestTimeoutMs` (see `request` for waiting ops). */
  timeoutMs?: number;
}

export interface NextOptions<Ev extends EventName> {
  /** Only an event for which this returns true settles the wait. */
  filter?: (data: EventData<Ev>) => boolean;
  /** Default 10 000 ms. */
  timeoutMs?: number;
}

export interface CloseInfo {
  code: number;
  reason: string;
}

export type EventListener<Ev extends EventName> = (data: EventData<Ev>) => void;

export type ToolCall = EventData<"toolkits.call">;

export interface ToolDefinition {
  name: string;
  description?: string;
  /** Its return value (awaited) is the call's result; a throw answers the caller with `{message}`. */
  handler: (args: Record<string, unknown>, call: ToolCall) => unknown;
}

/** Settings `connect` hands to the client. */
export interface ClientSettings {
  requestTimeoutMs: number;
  maxFrameBytes: number;
}

/**
 * Server-side default waits of the ops that wait on a person (PROTOCOL.md §6). Without them a request that leaves
 * `timeout_ms` out would be cut short by the 30 s client default while the server still waits for an answer.
 */
const SERVER_WAIT_DEFAULT_MS: Partial<Record<OpName, number>> = {
  "secrets.request_secret": 300_000,
  "secrets.request_oauth_token": 600_000,
};
/** The server's own timeout answer should win over the client's, so the client waits this much longer. */
const SERVER_TIMEOUT_GRACE_MS = 5_000;
const DEFAULT_NEXT_TIMEOUT_MS = 10_000;
const MAX_REQUEST_ID = 0xffff_ffff;
/** The protocol violation close code; also one browsers allow a page to send (they refuse 1002). */
const CLOSE_PROTOCOL_VIOLATION = 4400;

interface Pending {
  op: OpName;
  resolve: (result: unknown) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

type AnyListener = (data: unknown) => void;
type ToolHandler = ToolDefinition["handler"];

export class RoomClient {
  /** This connection's participant id: what others pass as `to_participant_id`. */
  readonly participantId: string;
  /** The token's identity (`sub`). */
  readonly identity: string;
  readonly room: string;
  readonly sessionId: string;
  /** Everyone the server listed in `room.ready`, kept current from presence events, by participant id. */
  readonly participants: ReadonlyMap<string, Participant>;
  /** Typed wrappers for every `secrets.*` op. */
  readonly secrets: SecretsClient;
  /** Resolves with the close code and reason once the socket has closed, however that happened. */
  readonly closed: Promise<CloseInfo>;

  readonly #socket: Socket;
  readonly #settings: ClientSettings;
  readonly #participants = new Map<string, Participant>();
  readonly #pending = new Map<number, Pending>();
  readonly #listeners = new Map<string, Set<AnyListener>>();
  /** Rejecters of outstanding `next` calls, so closing can end them. */
  readonly #waiters = new Set<(error: Error) => void>();
  readonly #toolkits = new Map<string, Map<string, ToolHandler>>();
  #nextId = 1;
  #state: "open" | "closing" | "closed" = "open";
  #resolveClosed: (info: CloseInfo) => void = () => undefined;

  /** @internal Use `connect(url, token)`; it builds the client once `room.ready` has arrived. */
  constructor(socket: Socket, ready: EventData<"room.ready">, settings: ClientSettings) {
    this.#socket = socket;
    this.#settings = settings;
    this.participantId = ready.participant_id;
    this.identity = ready.identity;
    this.room = ready.room;
    this.sessionId = ready.session_id;
    for (const participant of ready.participants) this.#participants.set(participant.id, participant);
    this.participants = this.#participants;
    this.secrets = new SecretsClient(this);
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    socket.onMessage = (bytes) => this.#receive(bytes);
    socket.onClose = (code, reason) => this.#finish(code, reason);
    // An error is always followed by a close, which is where everything is settled.
    socket.onError = () => undefined;
  }

  /**
   * Sends one request and resolves with its result, or rejects with a RoombusError (the server's, a `timeout`, or
   * `unavailable` when the socket closes first).
   * @example const { participants } = await client.request("room.list_participants", {});
   */
  request<Op extends OpName>(op: Op, args: OpArgs<Op>, options: RequestOptions = {}): Promise<OpResult<Op>> {
    if (this.#state !== "open") {
      return Promise.reject(new RoombusError("unavailable", `connection ${this.#state}: ${op} was not sent`));
    }
    const id = this.#takeRequestId();
    let bytes: Uint8Array;
    try {
      bytes = encodeRequest(id, op, args);
    } catch {
      return Promise.reject(new RoombusError("invalid_request", `the arguments of ${op} could not be encoded as msgpack`));
    }
    if (bytes.byteLength > this.#settings.maxFrameBytes) {
      // Sending it would make the server close the socket (1009); failing just this request is kinder.
      return Promise.reject(
        new RoombusError("too_large", `${op} is ${bytes.byteLength} bytes; a frame holds at most ${this.#settings.maxFrameBytes}`),
      );
    }
    const timeoutMs = this.#timeoutFor(op, args, options);
    return new Promise<OpResult<Op>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new RoombusError("timeout", `no answer to ${op} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { op, resolve: resolve as (result: unknown) => void, reject, timer });
      try {
        this.#socket.send(bytes);
      } catch {
        clearTimeout(timer);
        this.#pending.delete(id);
        reject(new RoombusError("unavailable", `${op} could not be sent: the connection is not open`));
      }
    });
  }

  /**
   * Lists the participants in the room, as the server sees them now.
   * @example for (const p of await client.listParticipants()) console.log(p.identity);
   */
  async listParticipants(): Promise<Participant[]> {
    return (await this.request("room.list_participants", {})).participants;
  }

  /**
   * Sets this participant's attributes; others get `participant.attributes`.
   * @example await client.setAttributes({ status: "busy" });
   */
  async setAttributes(attributes: Record<string, unknown>): Promise<void> {
    await this.request("room.set_attributes", { attributes });
  }

  /**
   * Sends a message to one participant; rejects with 1010 `participant_gone` if it has left.
   * @example await client.send(bobId, "chat", { text: "hi" });
   */
  async send(toParticipantId: string, type: string, message: Record<string, unknown>, attachment?: Uint8Array): Promise<void> {
    await this.request("messaging.send", { to_participant_id: toParticipantId, type, message, attachment });
  }

  /**
   * Sends a message to everyone else in the room.
   * @example await client.broadcast("chat", { text: "hello all" });
   */
  async broadcast(type: string, message: Record<string, unknown>, attachment?: Uint8Array): Promise<void> {
    await this.request("messaging.broadcast", { type, message, attachment });
  }

  /**
   * Hosts a toolkit: registers it and answers every `toolkits.call` for it by running the tool's handler.
   * @example await client.registerToolkit("math", [{ name: "add", handler: ({ a, b }) => Number(a) + Number(b) }]);
   */
  async registerToolkit(name: string, tools: ToolDefinition[]): Promise<void> {
    const handlers = new Map<string, ToolHandler>();
    for (const tool of tools) {
      if (handlers.has(tool.name)) throw new RoombusError("invalid_request", `toolkit ${name} lists a tool twice`);
      handlers.set(tool.name, tool.handler);
    }
    const previous = this.#toolkits.get(name);
    // Installed before registering: a call may arrive right after the server accepts the registration.
    this.#toolkits.set(name, handlers);
    try {
      await this.request("toolkits.register", {
        name,
        tools: tools.map((tool) => (tool.description === undefined ? { name: tool.name } : { name: tool.name, description: tool.description })),
      });
    } catch (error) {
      if (this.#toolkits.get(name) === handlers) {
        if (previous === undefined) this.#toolkits.delete(name);
        else this.#toolkits.set(name, previous);
      }
      throw error;
    }
  }

  /**
   * Lists the toolkits registered in the room.
   * @example const toolkits = await client.listToolkits();
   */
  async listToolkits(): Promise<OpResult<"toolkits.list">["toolkits"]> {
    return (await this.request("toolkits.list", {})).toolkits;
  }

  /**
   * Calls a tool hosted by another participant and resolves with its result.
   * @example const sum = await client.invoke(hostId, "math", "add", { a: 1, b: 2 });
   */
  async invoke(
    participantId: string,
    toolkit: string,
    tool: string,
    args: Record<string, unknown>,
    options: RequestOptions = {},
  ): Promise<unknown> {
    // The server's deadline is made explicit, so the client's own timer (a grace period later) never fires first.
    const timeoutMs = options.timeoutMs ?? this.#settings.requestTimeoutMs;
    const answer = await this.request("toolkits.invoke", {
      participant_id: participantId,
      toolkit,
      tool,
      arguments: args,
      timeout_ms: timeoutMs,
    });
    return answer.result;
  }

  /**
   * Subscribes to an event; returns the function that unsubscribes.
   * @example const off = client.on("messaging.message", (m) => console.log(m.from_identity, m.message));
   */
  on<Ev extends EventName>(ev: Ev, listener: EventListener<Ev>): () => void {
    let listeners = this.#listeners.get(ev);
    if (listeners === undefined) {
      listeners = new Set();
      this.#listeners.set(ev, listeners);
    }
    const entry = listener as AnyListener;
    listeners.add(entry);
    return () => {
      listeners.delete(entry);
    };
  }

  /**
   * Resolves with the next matching event that arrives after the call; rejects with `timeout` (default 10 s) or
   * `unavailable` if the socket closes first.
   * @example const request = await client.next("secrets.request_secret", { timeoutMs: 5000 });
   */
  next<Ev extends EventName>(ev: Ev, options: NextOptions<Ev> = {}): Promise<EventData<Ev>> {
    if (this.#state === "closed") {
      return Promise.reject(new RoombusError("unavailable", `connection closed: no ${ev} event will arrive`));
    }
    const timeoutMs = options.timeoutMs ?? DEFAULT_NEXT_TIMEOUT_MS;
    return new Promise<EventData<Ev>>((resolve, reject) => {
      const settle = () => {
        unsubscribe();
        clearTimeout(timer);
        this.#waiters.delete(fail);
      };
      const fail = (error: Error) => {
        settle();
        reject(error);
      };
      const unsubscribe = this.on(ev, (data) => {
        let matches: boolean;
        try {
          matches = options.filter === undefined || options.filter(data);
        } catch (error) {
          fail(error instanceof Error ? error : new Error(String(error)));
          return;
        }
        if (!matches) return;
        settle();
        resolve(data);
      });
      const timer = setTimeout(() => fail(new RoombusError("timeout", `no ${ev} event within ${timeoutMs} ms`)), timeoutMs);
      this.#waiters.add(fail);
    });
  }

  /**
   * Closes the socket (default code 1000) and resolves once it is closed.
   * @example await client.close();
   */
  close(code = 1000, reason?: string): Promise<CloseInfo> {
    if (this.#state === "open") {
      try {
        this.#socket.close(code, reason);
      } catch (error) {
        // Both `ws` and browsers refuse some codes (1005, 1006, 1002 in browsers) by throwing; the socket stays open.
        return Promise.reject(error instanceof Error ? error : new Error(String(error)));
      }
      this.#state = "closing";
    }
    return this.closed;
  }

  /**
   * Closes the socket when an `await using` block ends.
   * @example await using client = await connect(url, token);
   */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #takeRequestId(): number {
    // Ids wrap around within uint32 and skip any still outstanding.
    let id = this.#nextId;
    while (this.#pending.has(id)) id = id === MAX_REQUEST_ID ? 0 : id + 1;
    this.#nextId = id === MAX_REQUEST_ID ? 0 : id + 1;
    return id;
  }

  #timeoutFor(op: OpName, args: object, options: RequestOptions): number {
    if (options.timeoutMs !== undefined) return options.timeoutMs;
    const { timeout_ms: requested } = args as { timeout_ms?: unknown };
    const serverWaitMs = typeof requested === "number" ? requested : SERVER_WAIT_DEFAULT_MS[op];
    if (serverWaitMs === undefined) return this.#settings.requestTimeoutMs;
    return Math.max(this.#settings.requestTimeoutMs, serverWaitMs + SERVER_TIMEOUT_GRACE_MS);
  }

  #receive(bytes: Uint8Array | undefined): void {
    const frame = bytes === undefined ? undefined : decodeServerFrame(bytes);
    if (frame === undefined) {
      // Text frames and undecodable bytes mean the two sides no longer agree on anything; stop here.
      this.close(CLOSE_PROTOCOL_VIOLATION, "undecodable frame from the server").catch(() => undefined);
      return;
    }
    if (frame.t === "evt") {
      this.#dispatch(frame.ev, frame.data);
      return;
    }
    const pending = this.#pending.get(frame.id);
    // No entry: the request already timed out on this side, and its late answer has nobody to go to.
    if (pending === undefined) return;
    this.#pending.delete(frame.id);
    clearTimeout(pending.timer);
    if (frame.ok) pending.resolve(frame.result);
    else pending.reject(errorFromWire(wireErrorOf(frame.error, pending.op)));
  }

  #dispatch(ev: string, data: Record<string, unknown>): void {
    // The participant map is updated before listeners run, so a listener sees the room as the event leaves it.
    switch (ev) {
      case "participant.joined": {
        const { participant } = data as EventData<"participant.joined">;
        this.#participants.set(participant.id, participant);
        break;
      }
      case "participant.left":
        this.#participants.delete((data as EventData<"participant.left">).participant_id);
        break;
      case "participant.attributes": {
        const update = data as EventData<"participant.attributes">;
        const participant = this.#participants.get(update.participant_id);
        if (participant !== undefined) {
          this.#participants.set(update.participant_id, { ...participant, attributes: update.attributes });
        }
        break;
      }
      case "toolkits.call":
        this.#answerToolCall(data as ToolCall);
        break;
      default:
        break;
    }
    const listeners = this.#listeners.get(ev);
    if (listeners === undefined) return;
    for (const listener of [...listeners]) {
      try {
        listener(data);
      } catch (error) {
        // A broken listener must not stop the others or the socket; rethrown outside, as an EventEmitter would.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  #answerToolCall(call: ToolCall): void {
    const tools = this.#toolkits.get(call.toolkit);
    // A toolkit registered some other way (a raw `request`) is answered by whoever listens for it.
    if (tools === undefined) return;
    const handler = tools.get(call.tool);
    void (async () => {
      let answer: OpArgs<"toolkits.respond">;
      try {
        if (handler === undefined) throw new Error(`toolkit ${call.toolkit} has no such tool`);
        answer = { call_id: call.call_id, result: await handler(call.arguments, call) };
      } catch (error) {
        answer = { call_id: call.call_id, error: { message: errorText(error) } };
      }
      try {
        await this.request("toolkits.respond", answer);
      } catch (error) {
        // The result itself may be what failed (not encodable, too large): tell the caller that instead. If the
        // call has expired or the socket is gone, there is nobody left to tell, so that failure is dropped.
        if (answer.error !== undefined || !(error instanceof RoombusError)) return;
        if (error.errorName !== "invalid_request" && error.errorName !== "too_large") return;
        const message = `the tool's result could not be delivered: ${error.message}`;
        await this.request("toolkits.respond", { call_id: call.call_id, error: { message } }).catch(() => undefined);
      }
    })();
  }

  #finish(code: number, reason: string): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    const closedError = () => new RoombusError("unavailable", `connection closed (code ${code})`);
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(closedError());
    }
    this.#pending.clear();
    for (const fail of [...this.#waiters]) fail(closedError());
    this.#waiters.clear();
    this.#listeners.clear();
    this.#toolkits.clear();
    this.#resolveClosed({ code, reason });
  }
}

function wireErrorOf(value: unknown, op: OpName): WireError {
  const error = value as Partial<WireError> | undefined;
  if (typeof error?.code === "number" && typeof error.message === "string") {
    return { code: error.code, name: typeof error.name === "string" ? error.name : "", message: error.message };
  }
  return { code: 1100, name: "internal", message: `the server's error answer to ${op} was malformed` };
}

function errorText(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.length > MAX_TEXT_CHARS ? text.slice(0, MAX_TEXT_CHARS) : text;
}
