/** ROOMBUS_REDIS_CLUSTER with ROOMBUS_REDIS_URL and ROOMBUS_REDIS_SHARDED: what is accepted, and what is refused. */
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";

const load = (env: Record<string, string>) => loadConfig(env);

function refusal(env: Record<string, string>): string {
  try {
    load(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error("the configuration was accepted");
}

describe("Redis Cluster configuration", () => {
  it("takes the seed nodes' URLs, comma-separated, and turns sharded pub/sub on", () => {
    const config = load({
      ROOMBUS_REDIS_URL: "redis://:pw@10.0.0.1:7000, redis://:pw@10.0.0.2:7001",
      ROOMBUS_REDIS_CLUSTER: "true",
    });
    expect(config.redisCluster).toBe(true);
    expect(config.redisSharded).toBe(true);
    expect(config.redisUrl).toBe("redis://:pw@10.0.0.1:7000, redis://:pw@10.0.0.2:7001");
    expect(load({ ROOMBUS_REDIS_URL: "rediss://10.0.0.1", ROOMBUS_REDIS_CLUSTER: "true", ROOMBUS_REDIS_SHARDED: "true" }))
      .toMatchObject({ redisCluster: true, redisSharded: true });
  });

  it("leaves one server's settings as they were", () => {
    expect(load({ ROOMBUS_REDIS_URL: "redis://127.0.0.1:6379" })).toMatchObject({ redisCluster: false, redisSharded: false });
    expect(load({ ROOMBUS_REDIS_URL: "redis://127.0.0.1:6379", ROOMBUS_REDIS_SHARDED: "true" })).toMatchObject({
      redisCluster: false,
      redisSharded: true,
    });
    expect(load({})).toMatchObject({ redisUrl: undefined, redisCluster: false, redisSharded: false });
  });

  it("refuses each wrong combination in one line that names the variable and never the password", () => {
    const cases: [Record<string, string>, string][] = [
      [{ ROOMBUS_REDIS_CLUSTER: "yes" }, "ROOMBUS_REDIS_CLUSTER: "],
      [{ ROOMBUS_REDIS_CLUSTER: "true" }, "ROOMBUS_REDIS_CLUSTER: needs ROOMBUS_REDIS_URL"],
      [
        { ROOMBUS_REDIS_URL: "redis://10.0.0.1:7000", ROOMBUS_REDIS_CLUSTER: "true", ROOMBUS_REDIS_SHARDED: "false" },
        "ROOMBUS_REDIS_SHARDED: cannot be false with ROOMBUS_REDIS_CLUSTER=true",
      ],
      [
        { ROOMBUS_REDIS_URL: "redis://:secret-pw@10.0.0.1:7000,http://:secret-pw@10.0.0.2", ROOMBUS_REDIS_CLUSTER: "true" },
        "ROOMBUS_REDIS_URL: invalid Redis Cluster seed 2: expected a redis:// or rediss:// URL",
      ],
      [
        { ROOMBUS_REDIS_URL: "redis://:secret-pw@10.0.0.1:7000,,redis://:secret-pw@10.0.0.2", ROOMBUS_REDIS_CLUSTER: "true" },
        "ROOMBUS_REDIS_URL: invalid Redis Cluster seed list: an empty entry",
      ],
      [
        { ROOMBUS_REDIS_URL: "redis://:secret-pw@10.0.0.1:7000,redis://:other-pw@10.0.0.2", ROOMBUS_REDIS_CLUSTER: "true" },
        "ROOMBUS_REDIS_URL: invalid Redis Cluster seed list: every seed must use the same scheme, user and password",
      ],
      [
        { ROOMBUS_REDIS_URL: "redis://:secret-pw@10.0.0.1:7000/2", ROOMBUS_REDIS_CLUSTER: "true" },
        "ROOMBUS_REDIS_URL: invalid Redis Cluster seed 1: a cluster has only database 0",
      ],
      [
        { ROOMBUS_REDIS_URL: "redis://:secret-pw@10.0.0.1:7000,redis://:secret-pw@10.0.0.2:7001" },
        "ROOMBUS_REDIS_URL: several URLs are the seeds of a Redis Cluster: set ROOMBUS_REDIS_CLUSTER=true",
      ],
      [{ ROOMBUS_REDIS_URL: "http://:secret-pw@10.0.0.1" }, "ROOMBUS_REDIS_URL: expected a redis:// or rediss:// URL"],
      [{ ROOMBUS_REDIS_URL: "secret-pw" }, "ROOMBUS_REDIS_URL: expected a redis:// or rediss:// URL"],
    ];
    for (const [env, expected] of cases) {
      const message = refusal(env);
      expect(message, JSON.stringify(env)).toContain(expected);
      expect(message).not.toMatch(/secret-pw|other-pw/);
      expect(message).not.toContain("\n");
    }
  });
});
