import { describe, expect, it } from "vitest";
import { connect } from "../../src/client/index.js";
import { startServerProcess } from "../helpers/server-process.js";

describe("SIGTERM", () => {
  it("drains a real server process: sockets closed with 1001, then exit 0", async () => {
    await using server = await startServerProcess();
    const client = await connect(`ws://127.0.0.1:${server.port}/rooms/demo`, await server.token("alice", "demo"));
    server.child.kill("SIGTERM");
    expect((await client.closed).code).toBe(1001);
    expect(await server.exited).toBe(0);
    expect(server.lines.some((line) => line.includes("roombus stopped"))).toBe(true);
  });
});
