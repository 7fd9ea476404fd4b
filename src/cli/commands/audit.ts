/**
 * `roombus audit`: the audit trail of secrets ops, read from the server's store (SQLite in the data directory, or Redis; it works
 * while the server runs). Records hold who did what to which key and how it ended; never a value.
 */
import type { AuditEntry } from "../../secrets/secret-store.js";
import { checkIdentity, checkRoomName, parseFlags, parseIntegerFlag, printable, requireFlag, usageError, type Command, type Io } from "../args.js";
import { jsonLine } from "../output.js";
import { loadServerConfig, openServerStore } from "./server-store.js";

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 100_000;
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

const USAGE = `Usage: roombus audit --room ROOM [flags]

Prints the audit trail of secrets ops in a room, newest first, one line each: time, actor identity, participant id,
op, the record key it named (key=value), and the outcome (an error name and code when it failed). Values never
appear. Reads the server's store (SQLite in the data directory, or Redis when ROOMBUS_REDIS_URL is set); it works
while the server runs.

Flags:
  --room ROOM          the room, or '*' for the project API's records              required
  --identity ID        only ops by this identity
  --since WHEN         only ops since a duration ago (45s, 30m, 1h, 7d) or an ISO time (2025-01-31T12:00:00Z)
  --limit N            at most N records                                           default ${DEFAULT_LIMIT}
  --json               one JSON object per line instead
  --data-dir DIR       the server's data directory (ROOMBUS_DATA_DIR, default ./.roombus)
  -h, --help           show this help

Example:
  roombus audit --room demo --since 1h --data-dir /var/lib/roombus`;

const OPTIONS = {
  room: { type: "string" },
  identity: { type: "string" },
  since: { type: "string" },
  limit: { type: "string" },
  json: { type: "boolean" },
  "data-dir": { type: "string" },
} as const;

export const auditCommand: Command = {
  name: "audit",
  summary: "print the audit trail of secrets ops",
  run: runAudit,
};

async function runAudit(argv: string[], io: Io): Promise<number> {
  const values = parseFlags("audit", USAGE, OPTIONS, argv);
  const room = checkRoomName("audit", requireFlag("audit", "room", values.room), { allowAny: true });
  const identity = values.identity === undefined ? undefined : checkIdentity("audit", values.identity);
  const since = values.since === undefined ? undefined : parseSince(values.since, Date.now());
  const limit = values.limit === undefined ? DEFAULT_LIMIT : parseIntegerFlag("audit", "limit", values.limit, 1, MAX_LIMIT);

  const config = loadServerConfig(io.env, values["data-dir"]);
  const store = await openServerStore(config);
  let entries: AuditEntry[];
  try {
    entries = await store.queryAudit({ room, identity, since, limit });
  } finally {
    await store.close();
  }
  if (entries.length === 0) {
    io.err(`no audit records for room ${room}${identity === undefined ? "" : ` by ${identity}`}${since === undefined ? "" : " in that time"}`);
    return 0;
  }
  for (const entry of entries) io.out(values.json === true ? jsonLine(toJson(entry)) : formatEntry(entry));
  return 0;
}

/** A duration back from `now`, or an ISO time; a UsageError for anything else. */
export function parseSince(value: string, now: number): number {
  const duration = /^(\d{1,9})([smhd])$/.exec(value.trim());
  if (duration !== null) return now - Number(duration[1]) * UNIT_MS[duration[2]!]!;
  const time = /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(time)) throw usageError("audit", "--since must be a duration (45s, 30m, 1h, 7d) or an ISO time (2025-01-31T12:00:00Z)");
  return time;
}

function formatEntry(entry: AuditEntry): string {
  const target = Object.entries(entry.target).map(([key, value]) => `${key}=${quoteIfNeeded(value)}`);
  const outcome = entry.outcome === "ok" ? "ok" : `${entry.outcome} (${entry.errorCode ?? "?"})`;
  return [
    new Date(entry.at).toISOString(),
    printable(entry.actor),
    printable(entry.participantId),
    printable(entry.op),
    target.length === 0 ? "-" : target.join(" "),
    printable(outcome),
  ].join("  ");
}

/** Values are ids and URLs from clients: quoted when a space or quote would make the line ambiguous. */
function quoteIfNeeded(value: string): string {
  return /^[!#-~]+$/.test(value) ? value : printable(JSON.stringify(value));
}

function toJson(entry: AuditEntry): Record<string, unknown> {
  return {
    at: new Date(entry.at).toISOString(),
    room: entry.room,
    actor: entry.actor,
    participant_id: entry.participantId,
    op: entry.op,
    target: entry.target,
    outcome: entry.outcome,
    error_code: entry.errorCode,
    value_digest: entry.valueDigest,
  };
}
