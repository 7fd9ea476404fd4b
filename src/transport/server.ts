/**
 * The HTTP server: WebSocket upgrades to /rooms/{room} (authenticated before they complete), health, readiness and
 * metrics endpoints, and the drain that SIGTERM starts.
 */
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import type { Grants } from "../auth/grants.js";
import type { TokenVerifier } from "../auth/tokens.js";
import { CLOSE_CODES } from "../protocol/errors.js";
import { newId } from "../room/room-node.js";
import { Session, type SessionDeps } from "./session.js";
import { authenticateUpgrade, chooseSubprotocol } from "./upgrade.js";

export interface TransportOptions extends SessionDeps {
  host: string;
  port: number;
  verifier: TokenVerifier;
  allowedOrigins: readonly string[];
  maxFrameBytes: number;
  heartbeatMs: number;
  drainMs: number;
  /** Extra readiness checks (bus, stores); all must hold for /readyz to answer 200. */
  isReady(): boolean;
  /** Other HTTP routes (the web page, the OAuth callback); return false to fall through to 404. */
  httpRoutes?: (request: IncomingMessage, response: ServerResponse) => boolean | Promise<boolean>;
}

export class Transport {
  readonly sessions = new Set<Session>();
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  private readonly heartbeatTimer: NodeJS.Timeout;
  private draining = false;
  private readonly revokedJtis = new Set<string>();
  /** Called when the last session is gone (the drain waits for it). */
  private onEmpty: (() => void) | undefined;

  private constructor(private readonly options: TransportOptions) {
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: options.maxFrameBytes,
      perMessageDeflate: false,
      clientTracking: false,
      handleProtocols: (offered) => chooseSubprotocol(offered),
    });
    this.http = createServer((request, response) => void this.onHttpRequest(request, response));
    this.http.on("upgrade", (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      void this.onUpgrade(request, socket, head);
    });
    this.heartbeatTimer = setInterval(() => {
      for (const session of this.sessions) session.heartbeat();
    }, options.heartbeatMs);
    this.heartbeatTimer.unref();
  }

  static async listen(options: TransportOptions): Promise<Transport> {
    const transport = new Transport(options);
    await new Promise<void>((resolve, reject) => {
      transport.http.once("error", reject);
      transport.http.listen(options.port, options.host, () => {
        transport.http.off("error", reject);
        resolve();
      });
    });
    return transport;
  }

  get port(): number {
    const address = this.http.address();
    return typeof address === "object" && address !== null ? address.port : this.options.port;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /** Closes every socket of a revoked token id (4401) and refuses it from now on. */
  revoke(jti: string): void {
    this.revokedJtis.add(jti);
    for (const session of this.sessions) {
      if (session.grants.jti === jti) session.close(CLOSE_CODES.token_expired, "token revoked", "kicked");
    }
  }

  /** Stops accepting, closes every socket with 1001, and waits (at most drainMs) for them to go. */
  async drain(): Promise<void> {
    this.draining = true;
    for (const session of this.sessions) {
      session.close(CLOSE_CODES.going_away, "server going away", "draining");
    }
    if (this.sessions.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.options.drainMs);
        this.onEmpty = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    await this.close();
  }

  async close(): Promise<void> {
    this.draining = true;
    clearInterval(this.heartbeatTimer);
    for (const session of this.sessions) session.close(CLOSE_CODES.going_away, "server going away", "draining");
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  private async onUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on("error", () => socket.destroy());
    const decision = await authenticateUpgrade(request, {
      verifier: this.options.verifier,
      allowedOrigins: this.options.allowedOrigins,
      isDraining: () => this.draining,
      isRevoked: (grants: Grants) => grants.jti !== undefined && this.revokedJtis.has(grants.jti),
    });
    if (!decision.ok) {
      this.options.metrics.upgradeRefusals.labels(String(decision.status)).inc();
      refuseUpgrade(socket, decision.status, decision.message);
      return;
    }
    if (socket.destroyed) return;
    this.wss.handleUpgrade(request, socket, head, (ws: WebSocket) => {
      const session = new Session(ws, newId("p_"), newId("s_", 12), decision.room, decision.grants, this.options);
      this.sessions.add(session);
      ws.once("close", () => {
        this.sessions.delete(session);
        if (this.sessions.size === 0) this.onEmpty?.();
      });
      session.start().catch((error: unknown) => {
        this.options.logger.error({ err: error }, "could not join a session to its room");
        session.close(CLOSE_CODES.going_away, "could not join the room; try again", "kicked");
      });
    });
  }

  private async onHttpRequest(request: IncomingMessage, response: ServerResponse): Promise<void> {
    try {
      const path = (request.url ?? "/").split("?", 1)[0];
      if (request.method === "GET" && path === "/healthz") return sendJson(response, 200, { status: "ok" });
      if (request.method === "GET" && path === "/readyz") {
        const ready = !this.draining && this.options.isReady();
        return sendJson(response, ready ? 200 : 503, { status: ready ? "ready" : this.draining ? "draining" : "not ready" });
      }
      if (request.method === "GET" && path === "/metrics") {
        const registry = this.options.metrics.registry;
        response.writeHead(200, { "content-type": registry.contentType });
        response.end(await registry.metrics());
        return;
      }
      if (this.options.httpRoutes !== undefined && (await this.options.httpRoutes(request, response))) return;
      sendJson(response, 404, { error: "not found" });
    } catch (error) {
      this.options.logger.error({ err: error }, "http request failed");
      if (!response.headersSent) sendJson(response, 500, { error: "internal error" });
      else response.destroy();
    }
  }
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
  response.end(JSON.stringify(body));
}

function refuseUpgrade(socket: Duplex, status: number, message: string): void {
  if (socket.destroyed) return;
  const body = `${message}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\n` +
      "Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\n" +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
