/**
 * pino logs. Secret values are kept out by construction: no code path passes one to a log call. The redact list is
 * a second fence for field names that would only ever hold credentials.
 *
 * Format: JSON lines for machines (the default when stdout is not a terminal), or one readable line per entry for a
 * person at a terminal (`ROOMBUS_LOG_FORMAT=pretty`, the default on a TTY).
 */
import { Writable } from "node:stream";
import { pino, type Logger } from "pino";

export type { Logger };

export const REDACTED_FIELDS = [
  "data",
  "token",
  "access_token",
  "refresh_token",
  "client_secret",
  "authorization",
  "*.data",
  "*.token",
  "*.access_token",
  "*.refresh_token",
  "*.client_secret",
  "*.authorization",
  "req.headers.authorization",
  'req.headers["sec-websocket-protocol"]',
];

export type LogFormat = "json" | "pretty";

export function createLogger(level: string, destination?: pino.DestinationStream, format: LogFormat = "json"): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: "roombus" },
    redact: { paths: REDACTED_FIELDS, censor: "[redacted]" },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  const target = destination ?? pino.destination(1);
  return pino(options, format === "pretty" ? prettyStream(target) : target);
}

const LEVEL_NAMES: Record<number, string> = { 10: "TRACE", 20: "DEBUG", 30: "INFO ", 40: "WARN ", 50: "ERROR", 60: "FATAL" };
const OMITTED = new Set(["level", "time", "msg", "service", "pid", "hostname"]);

/** `12:04:58 INFO  roombus listening on ws://127.0.0.1:8765  node=a19e491e46e1 backend=embedded` */
export function formatPretty(line: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const time = typeof entry.time === "string" ? entry.time.slice(11, 19) : "";
  const level = LEVEL_NAMES[entry.level as number] ?? String(entry.level);
  const fields = Object.entries(entry)
    .filter(([key]) => !OMITTED.has(key))
    .map(([key, value]) => {
      if (key === "err" && typeof value === "object" && value !== null) {
        const err = value as { message?: unknown; stack?: unknown };
        return `err=${JSON.stringify(err.message)}${typeof err.stack === "string" ? `\n${err.stack}` : ""}`;
      }
      return `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`;
    });
  const message = typeof entry.msg === "string" ? entry.msg : "";
  return `${time} ${level} ${message}${fields.length > 0 ? "  " + fields.join(" ") : ""}`;
}

function prettyStream(target: pino.DestinationStream): pino.DestinationStream {
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (line.length > 0) target.write(formatPretty(line) + "\n");
      }
      callback();
    },
  });
  return stream;
}
