/**
 * The roombus server as bench/run.ts runs it: the embedded default, configured from the environment exactly as
 * `roombus serve` would be (ROOMBUS_PORT=0 picks a free port), in its own process. Prints its port as JSON.
 */
import { loadConfig } from "../src/config.js";
import { startServer } from "../src/main.js";
import { printReady, serveBenchIpc } from "./lib/child-ipc.js";

const server = await startServer(loadConfig(process.env));
printReady(server.port);
serveBenchIpc({ extra: () => ({}), close: () => server.close() });
