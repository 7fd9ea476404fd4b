/**
 * `roombus room listen`: stays in a room and prints presence and messages as they arrive, until SIGINT/SIGTERM.
 * Each kind of output is one watcher (subscribe, print, return the unsubscribe); answering secret requests at the
 * terminal is one of them (room-listen-secrets.ts).
 */
import type { RoomClient } from "../../client/index.js";
import type { EventData } from "../../protocol/events.js";
import { CLOSE_CODES } from "../../protocol/errors.js";
import { CliError, onStopSignal, parseFlags, printable, type Command, type Io } from "../args.js";
import { jsonLine } from "../output.js";
import { ANSWER_PROMPT, DECLINE_REASON, watchSecretRequests } from "./room-listen-secrets.js";
import { claimedApis, joinRoom, resolveToken, ROOM_FLAGS_HELP, ROOM_OPTIONS } from "./room-session.js";

const USAGE = `Usage: roombus room listen --room ROOM [flags]

Joins the room and prints, one line each, who is here, who joins and leaves, attribute changes, and the
messages sent to this participant or broadcast, until Ctrl-C or SIGTERM (then it leaves and exits 0).
The first line gives this participant's id, so others can \`roombus room send --to\` it.

Secret requests for this participant (\`roombus room secret request --from-participant-id ID\`) are answered here
when the token has the secrets grant: each request is shown (who asks, url, type, prompt, expiry), then
"${ANSWER_PROMPT}". On a terminal the value is typed without echo (Backspace edits, Ctrl-C
declines and exits); otherwise the next line of stdin is the answer. An empty answer declines with the reason
"${DECLINE_REASON}". One request is answered at a time; others wait their turn, and a request withdrawn or
expired meanwhile is dropped with a line saying so. When stdin is closed, requests are left open for other sessions.

Flags:
${ROOM_FLAGS_HELP}
  --json               print one JSON object per line: {"event": NAME, ...the event's data}; answers still come
                       from stdin, notes about them go to stderr
  --no-answer          only print secret requests, do not prompt (use this when running in the background)
  -h, --help           show this help

Example:
  roombus room listen --room demo`;

const OPTIONS = { ...ROOM_OPTIONS, json: { type: "boolean" }, "no-answer": { type: "boolean" } } as const;

export const roomListenCommand: Command = {
  name: "room listen",
  summary: "stay in a room, printing presence and messages as they arrive",
  run: runListen,
};

/** Who is who: kept here because a `participant.left` event carries only the id. */
type Names = Map<string, string>;

export interface Printer {
  json: boolean;
  io: Io;
  names: Names;
  /** Ends listening as SIGINT would (Ctrl-C at a secret prompt arrives as a key, not a signal). */
  stop(): void;
}

/** Subscribes to something and prints it; returns the unsubscribe function. */
export type Watcher = (client: RoomClient, printer: Printer) => () => void;

const CLOSE_NAMES = new Map<number, string>(Object.entries(CLOSE_CODES).map(([name, code]) => [code, name]));

async function runListen(argv: string[], io: Io): Promise<number> {
  const values = parseFlags("room listen", USAGE, OPTIONS, argv);
  const client = await joinRoom("room listen", values, io.env);
  let stop: () => void = () => undefined;
  const stopped = new Promise<"signal">((resolve) => {
    stop = () => resolve("signal");
  });
  const removeSignalHandler = onStopSignal(stop);
  const printer: Printer = { json: values.json === true, io, names: new Map(), stop };
  for (const participant of client.participants.values()) printer.names.set(participant.id, participant.identity);

  printReady(client, printer);
  const watchers: Watcher[] = [watchPresence, watchMessages];
  // Without the grant every answer would be refused; a token that is not a readable JWT gets the benefit of the doubt.
  const apis = claimedApis(resolveToken(values, io.env) ?? "");
  if (apis === undefined || apis.has("secrets")) watchers.push(watchSecretRequests(values["no-answer"] !== true));
  const unsubscribers = watchers.map((watch) => watch(client, printer));

  const outcome = await Promise.race([stopped, client.closed]);
  removeSignalHandler();
  for (const unsubscribe of unsubscribers) unsubscribe();

  if (outcome === "signal") {
    await client.close();
    return 0;
  }
  const name = CLOSE_NAMES.get(outcome.code);
  const reason = outcome.reason.length > 0 ? `: ${printable(outcome.reason)}` : "";
  throw new CliError(`the server closed the connection (code ${outcome.code}${name === undefined ? "" : ` ${name}`}${reason})`);
}

function printReady(client: RoomClient, { json, io }: Printer): void {
  const others = [...client.participants.values()].filter((participant) => participant.id !== client.participantId);
  if (json) {
    io.out(
      jsonLine({
        event: "room.ready",
        participant_id: client.participantId,
        identity: client.identity,
        room: client.room,
        session_id: client.sessionId,
        participants: [...client.participants.values()],
      }),
    );
    return;
  }
  io.out(
    `listening in room ${client.room} as ${client.identity}, participant id ${client.participantId} ` +
      `(reach it with: roombus room send --room ${client.room} --to ${client.participantId} --type chat --text hi)`,
  );
  for (const participant of others) io.out(`here ${participant.identity} (${participant.id}, ${participant.role})`);
}

const watchPresence: Watcher = (client, { json, io, names }) => {
  const offJoined = client.on("participant.joined", (data) => {
    names.set(data.participant.id, data.participant.identity);
    if (json) io.out(jsonLine({ event: "participant.joined", ...data }));
    else io.out(`joined ${data.participant.identity} (${data.participant.id}, ${data.participant.role})`);
  });
  const offLeft = client.on("participant.left", (data) => {
    const identity = names.get(data.participant_id);
    names.delete(data.participant_id);
    if (json) io.out(jsonLine({ event: "participant.left", ...data }));
    else io.out(`left ${identity ?? "?"} (${data.participant_id}): ${data.reason}`);
  });
  const offAttributes = client.on("participant.attributes", (data) => {
    if (json) io.out(jsonLine({ event: "participant.attributes", ...data }));
    else io.out(`attributes of ${names.get(data.participant_id) ?? "?"} (${data.participant_id}): ${jsonLine(data.attributes)}`);
  });
  return () => {
    offJoined();
    offLeft();
    offAttributes();
  };
};

const watchMessages: Watcher = (client, { json, io }) =>
  client.on("messaging.message", (data: EventData<"messaging.message">) => {
    if (json) {
      io.out(jsonLine({ event: "messaging.message", ...data }));
      return;
    }
    const attachment = data.attachment === undefined ? "" : `, attachment of ${data.attachment.byteLength} bytes`;
    io.out(
      `message from ${data.from_identity}: ${jsonLine(data.message)} ` +
        `(type ${printable(data.type)}, from ${data.from_participant_id}${attachment})`,
    );
  });
