/**
 * Baseline: a bare `ws` echo server (perMessageDeflate off, ws defaults otherwise), run as its own process by
 * bench/run.ts. Standalone: `node dist/bench/echo-server.js` (BENCH_PORT, default 0) prints its port as JSON.
 */
import { WebSocketServer } from "ws";
import { printReady, serveBenchIpc } from "./lib/child-ipc.js";

const wss = new WebSocketServer({ host: "127.0.0.1", port: Number(process.env.BENCH_PORT ?? 0), perMessageDeflate: false });
wss.on("connection", (ws) => {
  ws.on("message", (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
  ws.on("error", () => ws.terminate());
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
