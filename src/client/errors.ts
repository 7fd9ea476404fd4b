/** Why `connect` failed, worded so the person reading it knows what to do next. */
import { oneLine, type Refusal } from "./socket.js";

/** The HTTP answers a roombus server gives instead of an upgrade (PROTOCOL.md §1), and what to do about each. */
const REFUSALS: Record<number, string> = {
  400: "the room name or URL is not valid: use ws://HOST:PORT/rooms/ROOM, where ROOM has letters, digits, '.', '_' or '-' (at most 128, starting with a letter or digit)",
  401: "the token was refused (missing, malformed, bad signature or expired): mint a new one with `roombus token`",
  403: "the token is valid but not for this room (or, from a browser, the page's Origin is not allowed): mint a token for this room with `roombus token --room ROOM`, or add the origin to ROOMBUS_ALLOWED_ORIGINS",
  404: "there is no roombus room endpoint at this URL: use ws://HOST:PORT/rooms/ROOM",
  503: "the server is draining or its backend is down: try again shortly, or connect to another node",
};

/**
 * `invalid`: the URL or token can't be used at all; `refused`: the server answered the upgrade with an HTTP error;
 * `unreachable`: no connection (or a browser hiding the refusal); `closed`: closed after the upgrade, before
 * `room.ready`; `timeout`: no `room.ready` in time; `protocol`: the server's first frame was not `room.ready`.
 */
export type ConnectFailure = "invalid" | "refused" | "unreachable" | "closed" | "timeout" | "protocol";

export class ConnectError extends Error {
  /** The HTTP status that refused the upgrade, when known (Node only: browsers don't expose it). */
  readonly status: number | undefined;
  /** The WebSocket close code, when the socket closed before `room.ready`. */
  readonly closeCode: number | undefined;
  readonly reason: ConnectFailure;

  constructor(reason: ConnectFailure, message: string, details: { status?: number; closeCode?: number } = {}) {
    super(message);
    this.name = "ConnectError";
    this.reason = reason;
    this.status = details.status;
    this.closeCode = details.closeCode;
  }
}

export interface HandshakeEvidence {
  refusal: Refusal | undefined;
  errorMessage: string | undefined;
  /** Undefined when the handshake ended with an error event and no close (yet). */
  closeCode: number | undefined;
  closeReason: string;
}

/** Explains a handshake that ended before `room.ready`, from the best evidence at hand. */
export function connectErrorFrom(url: string, evidence: HandshakeEvidence): ConnectError {
  const { refusal, errorMessage, closeCode, closeReason } = evidence;
  const codeDetail = closeCode === undefined ? {} : { closeCode };
  if (refusal !== undefined) {
    const advice = REFUSALS[refusal.status] ?? "check the URL: use ws://HOST:PORT/rooms/ROOM";
    const said = refusal.body === undefined ? "" : ` (server said: ${refusal.body})`;
    return new ConnectError("refused", `HTTP ${refusal.status}: ${advice}${said}`, { status: refusal.status, ...codeDetail });
  }
  if (closeCode === undefined || closeCode === 1006) {
    // Browsers report every refused upgrade like this, and hide the status on purpose.
    const detail = errorMessage === undefined ? "" : ` (${errorMessage})`;
    return new ConnectError(
      "unreachable",
      `could not open ${url}${detail}: check that a roombus server runs there, the room name, and the token`,
      codeDetail,
    );
  }
  const reason = oneLine(closeReason);
  const why = reason.length > 0 ? `: ${reason}` : "";
  return new ConnectError("closed", `the server closed the connection before the room was ready (code ${closeCode}${why})`, {
    closeCode,
  });
}
