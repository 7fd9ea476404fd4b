/**
 * The peer: a Socket.IO server in its best documented configuration for a cluster, in its own process.
 *
 * - WebSocket transport only (`transports: ["websocket"]`): no HTTP long-polling, no upgrade, no sticky sessions.
 * - The default parser (JSON text frames): the msgpack parser is not installed in this project.
 * - With BENCH_REDIS_URL: `@socket.io/redis-adapter` on ioredis, as its README shows, with
 *   `publishOnSpecificResponseChannel` so an acknowledgement goes only to the node that waits for it.
 *
 * The application on top does what roombus does for the workloads, the way a Socket.IO application would:
 * - auth: the same HS256 JWT as roombus (jose's jwtVerify, same issuer, audience and algorithm), in `handshake.auth`,
 *   checked in a middleware before the connection is accepted; the socket joins the token's room;
 * - `request` (W1, W2): relays an `emitWithAck` to the socket named by id and acknowledges the caller with the answer:
 *   directly when that socket is on this node, through the adapter (`io.to(id).timeout(…).emit(…, ack)`) when not;
 * - `broadcast` (W3, W5): `socket.to(room).emit("message", …)`: everyone else in the room, on every node.
 *
 * Environment: BENCH_PORT (0 = any), BENCH_JWT_SECRET, BENCH_ISSUER, BENCH_AUDIENCE, BENCH_REDIS_URL (optional).
 * Prints its port as JSON (bench/lib/child-ipc.ts).
 */
import { createServer } from "node:http";
import { createAdapter } from "@socket.io/redis-adapter";
import { Redis } from "ioredis";
import { jwtVerify } from "jose";
import { Server } from "socket.io";
import { printReady, serveBenchIpc } from "../lib/child-ipc.js";

/** As long as roombus's default tool-call deadline would never matter in the bench: the relay's own deadline. */
const REQUEST_TIMEOUT_MS = 10_000;

const secret = new TextEncoder().encode(requireEnv("BENCH_JWT_SECRET"));
const issuer = requireEnv("BENCH_ISSUER");
const audience = requireEnv("BENCH_AUDIENCE");
const redisUrl = process.env.BENCH_REDIS_URL;

function requireEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") throw new Error(`socketio-server: set ${name}`);
  return value;
}

interface SocketData {
  identity: string;
  room: string;
}

type Answer = unknown;
type Ack = (answer: Answer) => void;

interface ClientToServer {
  request(to: string, payload: unknown, ack: Ack): void;
  broadcast(payload: unknown): void;
}

interface ServerToClient {
  request(payload: unknown, ack: Ack): void;
  message(payload: unknown): void;
}

const httpServer = createServer();
const io = new Server<ClientToServer, ServerToClient, Record<string, never>, SocketData>(httpServer, {
  transports: ["websocket"],
  serveClient: false,
  perMessageDeflate: false,
});

const redisClients: Redis[] = [];
if (redisUrl !== undefined && redisUrl !== "") {
  const pubClient = new Redis(redisUrl);
  const subClient = pubClient.duplicate();
  redisClients.push(pubClient, subClient);
  io.adapter(createAdapter(pubClient, subClient, { publishOnSpecificResponseChannel: true }));
}

io.use((socket, next) => {
  const auth = socket.handshake.auth as { token?: unknown; room?: unknown };
  if (typeof auth.token !== "string" || typeof auth.room !== "string") {
    next(new Error("send { token, room } in auth"));
    return;
  }
  const room = auth.room;
  jwtVerify(auth.token, secret, {
    algorithms: ["HS256"],
    issuer,
    audience,
    requiredClaims: ["exp", "iat", "iss", "aud", "sub"],
  }).then(
    ({ payload }) => {
      if (payload.room !== room && payload.room !== "*") {
        next(new Error("this token is not for this room"));
        return;
      }
      socket.data = { identity: String(payload.sub), room };
      next();
    },
    () => next(new Error("token refused")),
  );
});

io.on("connection", (socket) => {
  const room = socket.data.room;
  void socket.join(room);
  socket.on("request", (to, payload, ack) => {
    if (typeof ack !== "function") return;
    const local = io.sockets.sockets.get(to);
    if (local !== undefined) {
      local.timeout(REQUEST_TIMEOUT_MS).emit("request", payload, (error: Error | null, answer: Answer) => {
        ack(error === null ? answer : { error: "timeout" });
      });
      return;
    }
    io.timeout(REQUEST_TIMEOUT_MS)
      .to(to)
      .emit("request", payload, (error: Error | null, answers: Answer[]) => {
        ack(error === null && answers.length > 0 ? answers[0] : { error: error === null ? "gone" : "timeout" });
      });
  });
  socket.on("broadcast", (payload) => {
    socket.to(room).emit("message", payload);
  });
});

/**
 * With the Redis adapter, ready means subscribed: the adapter subscribes as it is created, and a broadcast published
 * before its subscription is in place would be lost. PUBSUB NUMSUB of the adapter's request channel counts this node
 * once that subscription (issued after the pattern one, on the same connection) is done.
 */
async function waitForAdapter(): Promise<void> {
  if (redisClients.length === 0) return;
  const deadline = performance.now() + 10_000;
  while ((await io.of("/").adapter.serverCount()) < 1) {
    if (performance.now() > deadline) throw new Error("the Redis adapter did not subscribe in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

httpServer.listen(Number(process.env.BENCH_PORT ?? 0), "127.0.0.1", () => {
  const address = httpServer.address();
  waitForAdapter().then(
    () => printReady(typeof address === "object" && address !== null ? address.port : 0),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
});

serveBenchIpc({
  extra: () => ({ connections: io.engine.clientsCount }),
  close: async () => {
    await io.close();
    for (const client of redisClients) client.disconnect();
  },
});
