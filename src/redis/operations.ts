/**
 * The base of every Redis-backed store: what it does around its commands: refuse after close, reject an operation whose connection
 * dropped while it waited (its commands are never re-sent, see connection.ts, so waiting longer would wait forever),
 * and keep only an error's message (ioredis errors carry the command's arguments, i.e. sealed bytes).
 */
import { closeRedis, isRedisReady, type RedisClient } from "./connection.js";

export abstract class RedisBackedStore {
  private closed = false;
  /** Operations waiting for a reply; rejected when the connection drops. */
  private readonly inFlight = new Set<(error: Error) => void>();

  /** Takes ownership of `client`: close() quits it. `fail` makes the error a store reports (a message only). */
  protected constructor(
    protected readonly client: RedisClient,
    private readonly fail: (message: string) => Error,
  ) {
    client.on("close", () => {
      const error = fail("the connection to Redis was lost; the operation may or may not have been applied");
      for (const reject of [...this.inFlight]) reject(error);
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  isHealthy(): boolean {
    return !this.closed && isRedisReady(this.client);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // QUIT is answered after the replies already on their way, so acknowledged writes are not cut short.
    await closeRedis(this.client);
  }

  /** Runs one operation named `op` (for its error message) under the rules above. */
  protected run<T>(op: string, body: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(this.fail(`${op}: store closed`));
    return new Promise<T>((resolve, reject) => {
      const abort = (error: Error) => {
        this.inFlight.delete(abort);
        reject(this.fail(`${op}: ${error.message}`));
      };
      this.inFlight.add(abort);
      body().then(
        (value) => {
          this.inFlight.delete(abort);
          resolve(value);
        },
        (error: unknown) => abort(error instanceof Error ? error : new Error(String(error))),
      );
    });
  }
}

/** A Lua script as ioredis defines it: how many of its arguments are keys, and its source. */
export interface ScriptDefinition {
  numberOfKeys: number;
  lua: string;
}

/** Each script as a method: the keys first, then the other arguments. */
export type Scripts<Name extends string> = Record<Name, (...args: (string | Buffer | number)[]) => Promise<unknown>>;

/**
 * Defines `scripts` on the client once (ioredis then runs each with EVALSHA, falling back to EVAL when Redis does not
 * have it yet) and returns the client as their methods.
 */
export function defineScripts<Name extends string>(client: RedisClient, scripts: Record<Name, ScriptDefinition>): Scripts<Name> {
  const commands = client as unknown as Partial<Scripts<Name>>;
  for (const [name, definition] of Object.entries(scripts) as [Name, ScriptDefinition][]) {
    if (typeof commands[name] !== "function") client.defineCommand(name, definition);
  }
  return client as unknown as Scripts<Name>;
}
