/**
 * A loopback port that was free a moment ago: for a server that cannot listen on port 0 itself (redis-server), or for
 * a client that must meet a refused connection (nothing listens there once this resolves).
 */
import { createServer } from "node:net";

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
