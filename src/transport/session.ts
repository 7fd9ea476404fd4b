/**
 * One WebSocket connection: a participant of one room. It owns the socket-level rules (binary frames only, the rate
 * limit, the outbound buffer cap, token expiry, heartbeats) and hands decoded requests to the router.
 * Kept small on purpose: an idle session is a few fields and one timer.
 */
import type { Socket } from "node:net";
import type { Logger } from "pino";
import { WebSocket, type RawData } from "ws";
import type { Grants } from "../auth/grants.js";
import type { Metrics } from "../metrics.js";
import { CLOSE_CODES, RoombusError } from "../protocol/errors.js";
import type { LeaveReason } from "../protocol/events.js";
import { decodeRequest, encodeError } from "../protocol/frames.js";
import type { Fanout, LocalParticipant } from "../room/local-participant.js";
import type { Router } from "../room/router.js";
import type { RoomNode } from "../room/room-node.js";
import { canWriteFramed, finishAtEndOfTurn, framedForFanout, socketOf } from "./outbound.js";
import { TokenBucket } from "./rate-limiter.js";

/** setTimeout takes at most 2^31-1 ms; longer expiries are re-armed when they come due. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Held writes are sent as soon as they reach this many bytes. */
const CORK_FLUSH_BYTES = 64 * 1024;
/** How long a socket closed by the server may take to finish the closing handshake before it is cut. */
const CLOSE_GRACE_MS = 1000;

export interface SessionDeps {
  node: RoomNode;
  router: Router;
  logger: Logger;
  metrics: Metrics;
  outboundBufferBytes: number;
  rateLimitPerSecond: number;
  rateLimitBurst: number;
}

export class Session implements LocalParticipant {
  /** Cleared on each heartbeat, set again by the pong. */
  alive = true;
  private joined = false;
  private early: RawData[] | undefined;
  private leaveReason: LeaveReason = "closed";
  private readonly limiter: TokenBucket;
  private refusedInARow = 0;
  /** Writes in this turn of the event loop: none yet, one sent at once, or more held (corked) until its end. */
  private turn: "idle" | "wrote" | "corked" = "idle";
  private socket: Socket | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private log: Logger | undefined;

  constructor(
    private readonly ws: WebSocket,
    readonly id: string,
    readonly sessionId: string,
    readonly room: string,
    readonly grants: Grants,
    private readonly deps: SessionDeps,
  ) {
    this.limiter = new TokenBucket(deps.rateLimitPerSecond, deps.rateLimitBurst, Date.now());
    ws.on("message", (data, isBinary) => this.onMessage(data, isBinary));
    ws.on("pong", () => {
      this.alive = true;
    });
    ws.on("error", (error) => this.logger.debug({ err: error }, "socket error"));
    ws.once("close", () => this.onClose());
    this.armExpiry();
  }

  get logger(): Logger {
    // Created on first use: most sessions never log, and a child logger per idle socket costs memory.
    this.log ??= this.deps.logger.child({ sessionId: this.sessionId, participantId: this.id, room: this.room });
    return this.log;
  }

  async start(): Promise<void> {
    await this.deps.node.join(this);
    if (this.ws.readyState !== WebSocket.OPEN) {
      // The socket closed while the join was in flight: its close handler saw no join to undo.
      await this.deps.node.leave(this, this.leaveReason);
      return;
    }
    this.joined = true;
    this.deps.metrics.sessions.inc();
    const early = this.early;
    this.early = undefined;
    for (const data of early ?? []) this.handle(data);
  }

  send(frame: Uint8Array, fanout?: Fanout): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    if (this.ws.bufferedAmount + frame.byteLength > this.deps.outboundBufferBytes) {
      this.close(CLOSE_CODES.slow_consumer, "slow consumer: outbound buffer over its cap", "slow_consumer");
      return;
    }
    // A broadcast's frame is framed once for all its receivers (outbound.ts).
    const framed = framedForFanout(frame, fanout);
    this.beforeWrite(framed !== undefined);
    if (framed !== undefined && this.socket !== undefined && canWriteFramed(this.ws)) this.socket.write(framed);
    else this.ws.send(frame);
    // Held bytes count as buffered: past a little, send them now, so a healthy reader never looks slow.
    if (this.turn === "corked" && this.socket !== undefined && this.socket.writableLength >= CORK_FLUSH_BYTES) {
      this.socket.uncork();
      this.socket.cork();
    }
  }

  /**
   * The first frame of a turn of the event loop leaves at once (no added latency); later frames of the same turn are
   * held and leave together in one writev when the turn ends. Under load the socket writes would otherwise take half
   * the server's time, one system call per frame. A broadcast's frame is held from the first (`hold`): the receivers
   * after the first of a fan-out get it at the end of the turn with whatever else the turn sends them. `ws` has no
   * public cork, so this reaches its socket.
   */
  private beforeWrite(hold: boolean): void {
    this.socket ??= socketOf(this.ws);
    if (this.turn === "corked") return;
    if (this.turn === "idle") {
      // One shared end-of-turn callback for every session: no closure per session (idle sessions stay small).
      finishAtEndOfTurn(this);
      if (!hold) {
        this.turn = "wrote";
        return;
      }
    }
    if (this.socket === undefined) return;
    this.socket.cork();
    this.turn = "corked";
  }

  /** @internal Called once the turn in which this session wrote is over. */
  finishTurn(): void {
    if (this.turn === "corked") this.socket?.uncork();
    this.turn = "idle";
  }

  close(code: number, reason: string, leaveReason: LeaveReason): void {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    if (this.ws.readyState === WebSocket.CLOSING) {
      // The peer began closing first: its reason stands, but the participant leaves now, while the bus is still
      // there to announce it (a server stopping would otherwise see the departure after it closed the bus).
      this.onClose();
      return;
    }
    this.leaveReason = leaveReason;
    this.deps.metrics.closes.labels(leaveReason).inc();
    this.ws.close(code, reason);
    // A peer that stopped reading never completes the closing handshake; free its buffers soon.
    setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS).unref();
    // The participant leaves now, not when the handshake ends: nothing more is routed to a closing socket.
    this.onClose();
  }

  /** Called by the heartbeat sweep. */
  heartbeat(): void {
    if (!this.alive) {
      this.close(CLOSE_CODES.pong_timeout, "no pong in time", "timeout");
      return;
    }
    this.alive = false;
    this.ws.ping();
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    if (!isBinary) {
      this.close(CLOSE_CODES.unsupported_data, "text frames are not accepted; send binary msgpack", "kicked");
      return;
    }
    if (!this.joined) {
      (this.early ??= []).push(data);
      return;
    }
    this.handle(data);
  }

  private handle(data: RawData): void {
    const bytes = data as Buffer;
    const decoded = decodeRequest(bytes);
    if (!decoded.ok) {
      if (decoded.id === undefined) {
        this.close(CLOSE_CODES.protocol_violation, `protocol violation: ${decoded.reason}`, "kicked");
      } else {
        this.send(encodeError(decoded.id, new RoombusError("invalid_request", decoded.reason).toWire()));
      }
      return;
    }
    if (!this.limiter.take(Date.now())) {
      this.refusedInARow++;
      // A client that ignores 1011 and keeps going is flooding: cut it off rather than keep answering.
      if (this.refusedInARow > this.deps.rateLimitBurst) {
        this.close(CLOSE_CODES.slow_consumer, "flood: too many requests over the rate limit", "kicked");
        return;
      }
      this.send(
        encodeError(decoded.frame.id, new RoombusError("rate_limited", "too many requests; slow down").toWire()),
      );
      return;
    }
    this.refusedInARow = 0;
    const room = this.deps.node.room(this.room);
    if (room === undefined) return;
    void this.deps.router
      .dispatch({ participant: this, room, node: this.deps.node }, decoded.frame)
      .then((response) => this.send(response));
  }

  private armExpiry(): void {
    const remaining = this.grants.expiresAt - Date.now();
    this.expiryTimer = setTimeout(
      () => {
        if (Date.now() >= this.grants.expiresAt) this.close(CLOSE_CODES.token_expired, "token expired", "expired");
        else this.armExpiry();
      },
      Math.max(0, Math.min(remaining, MAX_TIMER_MS)),
    );
    this.expiryTimer.unref();
  }

  private onClose(): void {
    clearTimeout(this.expiryTimer);
    if (!this.joined) return;
    this.joined = false;
    this.deps.metrics.sessions.dec();
    this.deps.node.leave(this, this.leaveReason).catch((error: unknown) => {
      this.logger.warn({ err: error }, "could not announce a departure");
    });
  }
}
