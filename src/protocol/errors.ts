/**
 * Error and close codes of the wire protocol (PROTOCOL.md §3), and the one error type that carries them.
 * Anything thrown inside a handler that is not a RoombusError becomes 1100 `internal` at the router.
 */

export const ERROR_CODES = {
  permission_denied: 1001,
  invalid_request: 1002,
  not_found: 1003,
  already_exists: 1004,
  invalid_state: 1006,
  operation_failed: 1008,
  timeout: 1009,
  participant_gone: 1010,
  rate_limited: 1011,
  too_large: 1012,
  unavailable: 1013,
  conflict: 1014,
  internal: 1100,
} as const;

export type ErrorName = keyof typeof ERROR_CODES;
export type ErrorCode = (typeof ERROR_CODES)[ErrorName];

export const CLOSE_CODES = {
  normal: 1000,
  going_away: 1001,
  unsupported_data: 1003,
  message_too_big: 1009,
  protocol_violation: 4400,
  token_expired: 4401,
  grant_withdrawn: 4403,
  pong_timeout: 4408,
  slow_consumer: 4429,
} as const;

export type CloseName = keyof typeof CLOSE_CODES;

/** The error payload of a failed response: `{code, name, message}` on the wire. */
export interface WireError {
  code: number;
  name: string;
  message: string;
}

export class RoombusError extends Error {
  readonly errorName: ErrorName;
  readonly code: ErrorCode;

  /** `message` reaches the client: it must never contain an input value (it may be a secret). */
  constructor(name: ErrorName, message: string) {
    super(message);
    this.name = "RoombusError";
    this.errorName = name;
    this.code = ERROR_CODES[name];
  }

  toWire(): WireError {
    return { code: this.code, name: this.errorName, message: this.message };
  }
}

const NAMES_BY_CODE = new Map<number, ErrorName>(
  Object.entries(ERROR_CODES).map(([name, code]) => [code, name as ErrorName]),
);

/** Rebuilds a RoombusError from a wire error (client side, or an answer that crossed nodes). */
export function errorFromWire(error: WireError): RoombusError {
  const name = NAMES_BY_CODE.get(error.code) ?? "internal";
  return new RoombusError(name, error.message);
}

export function isRoombusError(value: unknown): value is RoombusError {
  return value instanceof RoombusError;
}
