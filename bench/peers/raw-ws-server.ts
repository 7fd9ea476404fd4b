/**
 * The raw limits of the peer benchmarks: a bare `ws` server (perMessageDeflate off, ws defaults otherwise) that does
 * the least each workload needs, with no protocol, no auth and no routing table beyond a map:
 *
 *   /echo              every message comes back to its sender;
 *   /relay/{pair}      the first two sockets of a pair are joined: what one sends, the other gets (W1's four hops);
 *   /room/{room}       what one sends, every other socket of the room gets (W3's fan-out), the same bytes to each.
 *
 * Run by bench/peers/run.ts as its own process; prints its port as JSON (bench/lib/child-ipc.ts).
 */
import type { RawData, WebSocket } from "ws";
import { WebSocketServer } from "ws";
import { printReady, serveBenchIpc } from "../lib/child-ipc.js";

const pairs = new Map<string, WebSocket[]>();
const rooms = new Map<string, Set<WebSocket>>();

function joinPair(name: string, ws: WebSocket): void {
  const pair = pairs.get(name) ?? [];
  pairs.set(name, pair);
  pair.push(ws);
  ws.on("message", (data: RawData, isBinary) => {
    const other = pair[0] === ws ? pair[1] : pair[0];
    other?.send(data as Buffer, { binary: isBinary });
  });
  ws.once("close", () => pairs.delete(name));
}

function joinRoom(name: string, ws: WebSocket): void {
  let room = rooms.get(name);
  if (room === undefined) {
    room = new Set();
    rooms.set(name, room);
  }
  const members = room;
  members.add(ws);
  ws.on("message", (data: RawData, isBinary) => {
    for (const member of members) if (member !== ws) member.send(data as Buffer, { binary: isBinary });
  });
  ws.once("close", () => {
    members.delete(ws);
    if (members.size === 0) rooms.delete(name);
  });
}

const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false });
wss.on("connection", (ws, request) => {
  ws.on("error", () => ws.terminate());
  const [, kind, name] = (request.url ?? "/").split("?", 1)[0]!.split("/");
  if (kind === "echo") ws.on("message", (data: RawData, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
  else if (kind === "relay" && name !== undefined) joinPair(name, ws);
  else if (kind === "room" && name !== undefined) joinRoom(name, ws);
  else ws.close(4404, "use /echo, /relay/{pair} or /room/{room}");
});
wss.on("listening", () => {
  const address = wss.address();
  printReady(typeof address === "object" && address !== null ? address.port : 0);
});
serveBenchIpc({
  extra: () => ({ connections: wss.clients.size }),
  close: () =>
    new Promise<void>((resolve) => {
      for (const ws of wss.clients) ws.terminate();
      wss.close(() => resolve());
    }),
});
