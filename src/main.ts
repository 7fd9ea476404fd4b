/** Wires the parts together. Only this file and config.ts know which backends exist. */
import type { Logger } from "pino";
import type { Config } from "./config.js";

export interface RoombusServer {
  /** The bound port (useful with port 0). */
  readonly port: number;
  /** `http://host:port`. */
  readonly httpUrl: string;
  /** `ws://host:port/rooms/{room}`. */
  roomUrl(room: string): string;
  /** Stop accepting, close every socket with 1001, flush; resolves when done. */
  drain(): Promise<void>;
  /** Immediate shutdown (tests). */
  close(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
}

export async function startServer(_config: Config, _options: StartOptions = {}): Promise<RoombusServer> {
  throw new Error("not implemented yet");
}
