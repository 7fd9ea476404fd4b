/**
 * pino JSON logs. Secret values are kept out by construction: no code path passes one to a log call. The redact
 * list is a second fence for field names that would only ever hold credentials.
 */
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

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: "roombus" },
    redact: { paths: REDACTED_FIELDS, censor: "[redacted]" },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}
