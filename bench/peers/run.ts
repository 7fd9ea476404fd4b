/**
 * `npm run bench:peers`: roombus beside Socket.IO with its Redis adapter, on the same workloads in the same run,
 * beside the raw limits (a bare `ws` server, Redis pub/sub), so every claim is a ratio measured on one machine at one
 * time. Workloads (issue 6): W1 request → response on one node, W2 across two nodes through Redis, W3 one publisher to
 * rooms of 100 and 1,000 split over two nodes, W4 memory per idle authenticated connection, W5 a subscriber that stops
 * reading. See each workload's file for how it measures, and docs/benchmarks.md ("Peers") for the figures.
 *
 * Each system runs as its own cluster: a bench-owned redis-server and two nodes (roombus: `roombus serve` processes;
 * Socket.IO: socketio-server.ts), every server process pinned to core 0, this load generator pinned to core 1. Every
 * loop is bounded in count and time, and every phase has a hard deadline. Flags: see plan.ts (--quick, --only, ...).
 * Results: tables on stdout, progress on stderr, JSON in bench/results/peers-<timestamp>.json.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { io as socketIoClient } from "socket.io-client";
import { mintToken } from "../../src/auth/tokens.js";
import { killAllChildren, type ServerChild } from "../lib/children.js";
import { AUDIENCE, createLog, describeCommit, ISSUER, JWT_SECRET, LOADGEN_CPU, runBench, SERVER_CPU } from "../lib/entry.js";
import { createPhaseRunner, type PhaseContext } from "../lib/phases.js";
import { formatProfile, summarizeProfile } from "../lib/profile.js";
import { killAllRedis, startBenchRedis } from "../lib/redis-server.js";
import { describeMachine, hasCommand, pinSelf, raiseOwnFdLimit } from "../lib/system.js";
import { measureBroadcast, measureEcho, measureRedisHop, measureRelay } from "./baselines.js";
import { runBroadcast } from "./broadcast.js";
import type { BenchContext } from "./context.js";
import {
  removeDataDirs,
  startRawServer,
  startSystem,
  type Placement,
  type System,
} from "./deployments.js";
import { runIdleConnections } from "./idle-connections.js";
import { waitForQuiet } from "./loops.js";
import { parseArgs, type WorkloadName } from "./plan.js";
import { formatReport } from "./report.js";
import { runRequestResponse } from "./request-response.js";
import { computeGoals, type Results } from "./results.js";
import { runSlowConsumer } from "./slow-consumer.js";

const here = dirname(fileURLToPath(import.meta.url));
/** dist/bench/peers/run.js → the project root. */
const root = resolve(here, "../../..");

const log = createLog("peers");

function packageVersion(name: string): string {
  try {
    const file = join(root, "node_modules", name, "package.json");
    return (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version;
  } catch {
    return "?";
  }
}

/**
 * The official client once against the Socket.IO nodes: a caller on node 0 asks a host on node 1 (the load generator's
 * own wire client, hosting) through the adapter, so the suite's Socket.IO server is known to speak standard Socket.IO.
 */
async function checkSocketIoClient(ctx: PhaseContext, system: System): Promise<void> {
  const room = "client-check";
  const token = (identity: string): Promise<string> =>
    mintToken({ secret: new TextEncoder().encode(JWT_SECRET), issuer: ISSUER, audience: AUDIENCE }, { identity, room, ttlSeconds: 600 });
  const host = await system.join(system.nodes[1]!, room, "check-host", ctx.sockets);
  await host.host();
  const client = socketIoClient(`http://127.0.0.1:${system.nodes[0]!.port}`, {
    transports: ["websocket"],
    auth: { token: await token("check-caller"), room },
    reconnection: false,
    forceNew: true,
  });
  try {
    await new Promise<void>((resolvePromise, reject) => {
      client.once("connect", () => resolvePromise());
      client.once("connect_error", reject);
    });
    const answer = (await client.timeout(5000).emitWithAck("request", host.id, { seq: 7, pad: "check" })) as { seq?: unknown };
    if (answer.seq !== 7) throw new Error(`socket.io-client got ${JSON.stringify(answer)}`);
  } finally {
    client.disconnect();
  }
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const { plan } = args;
  const wants = (name: WorkloadName): boolean => args.only.has(name);
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const resultsDir = join(root, "bench", "results");
  const artifactDir = join(resultsDir, `peers-${stamp}`);
  mkdirSync(resultsDir, { recursive: true });
  if (args.profile) mkdirSync(artifactDir, { recursive: true });

  const machine = describeMachine();
  const pinned = hasCommand("taskset") && machine.cpus >= 2 && pinSelf(LOADGEN_CPU, log);
  const placement: Placement = { serverCpu: pinned ? SERVER_CPU : undefined, log };
  const fdLimit = raiseOwnFdLimit(plan.idle.connections + 2_000, log);
  log(
    `${plan.mode} run on ${machine.cpus} cores (${machine.cpuModel}), node ${machine.node}; ` +
      (pinned
        ? `servers and Redis on core ${SERVER_CPU}, load generator on core ${LOADGEN_CPU}`
        : "not pinned: everything shares every core") +
      `; fd limit ${fdLimit}`,
  );
  if (machine.cpus <= 2) {
    log("with 2 cores, a system's nodes and its Redis share one core, and the load generator has the other");
  }

  const phases = createPhaseRunner(log);
  const results: Results = {
    startedAt: new Date().toISOString(),
    commit: describeCommit(root),
    plan,
    machine: { ...machine, pinned, serverCpu: placement.serverCpu, loadGeneratorCpu: pinned ? LOADGEN_CPU : undefined },
    versions: Object.fromEntries(
      ["socket.io", "socket.io-client", "@socket.io/redis-adapter", "engine.io", "ws", "ioredis", "msgpackr"].map((name) => [
        name,
        packageVersion(name),
      ]),
    ),
    baselines: { broadcast: [] },
    w1: [],
    w2: [],
    w3: [],
    w4: [],
    w5: [],
    goals: [],
    profiles: {},
    failures: phases.failures,
  };
  const bench: BenchContext = {
    plan,
    log,
    quiet: async () => void (await waitForQuiet(plan.quietWaitMs, log)),
    async profiled<T>(label: string, servers: readonly ServerChild[], work: () => Promise<T>): Promise<T> {
      if (!args.profile) return work();
      await Promise.all(servers.map((server) => server.startProfile()));
      try {
        return await work();
      } finally {
        for (const server of servers) {
          const file = join(artifactDir, `${label}-${server.name}.cpuprofile`.replace(/[^A-Za-z0-9._-]+/g, "-"));
          await server.stopProfile(file);
          const summary = summarizeProfile(file, 30);
          results.profiles[`${label} ${server.name}`] = summary;
          process.stderr.write(formatProfile(summary) + "\n");
        }
      }
    },
  };
  const finish = (): number => {
    results.goals = computeGoals(results);
    const file = join(resultsDir, `peers-${stamp}.json`);
    writeFileSync(file, JSON.stringify(results, null, 2) + "\n");
    process.stdout.write(formatReport(results) + "\n");
    log(`results written to ${file}`);
    if (phases.failures.length > 0) {
      log(`${phases.failures.length} phase(s) failed: ${phases.failures.map((failure) => failure.phase).join(", ")}`);
      return 1;
    }
    return 0;
  };

  // Baselines first: the raw limits of this machine right now.
  if (wants("baselines")) {
    const raw = await startRawServer(placement);
    await phases.run("baseline: raw ws echo", 120_000, raw, (ctx) => measureEcho(ctx, bench, raw, results.baselines));
    await phases.run("baseline: raw ws relay", 120_000, raw, (ctx) => measureRelay(ctx, bench, raw, results.baselines));
    for (const size of plan.broadcast.roomSizes) {
      const measured = await phases.run(`baseline: raw ws broadcast to ${size}`, 120_000, raw, (ctx) =>
        measureBroadcast(ctx, bench, raw, size),
      );
      if (measured !== undefined) results.baselines.broadcast.push(measured);
    }
    await raw.stop();
    const redis = await startBenchRedis({ cpu: placement.serverCpu, log });
    results.baselines.redis = await phases.run("baseline: Redis hop", 120_000, undefined, (ctx) =>
      measureRedisHop(ctx, bench, redis, pinned ? LOADGEN_CPU : undefined),
    );
    await redis.stop();
  }

  const workloads = ["W1", "W2", "W3", "W4", "W5"] as const;
  if (!workloads.some(wants)) return finish();

  const systems: System[] = [];
  for (const name of args.systems) {
    log(`starting ${name}: Redis and two nodes`);
    systems.push(await startSystem(name, placement));
  }
  const socketIo = systems.find((system) => system.name === "socket.io");
  if (socketIo !== undefined) {
    await phases.run("socket.io-client check", 30_000, socketIo.nodes[0], async (ctx) => {
      try {
        await checkSocketIoClient(ctx, socketIo);
        results.socketIoClientCheck = { ok: true };
      } catch (error) {
        results.socketIoClientCheck = { ok: false, error: error instanceof Error ? error.message : String(error) };
        throw error;
      }
    });
  }
  // Each workload alternates which system goes first, so a slow spell on the shared machine does not always hit one.
  const inTurn = (index: number): System[] => (index % 2 === 0 ? systems : [...systems].reverse());

  if (wants("W1")) {
    for (const system of inTurn(0)) {
      const result = await phases.run(`W1 ${system.name}`, 240_000, system.nodes[0], (ctx) =>
        runRequestResponse(ctx, bench, system, "one node"),
      );
      if (result !== undefined) results.w1.push(result);
    }
  }
  if (wants("W2")) {
    for (const system of inTurn(1)) {
      const result = await phases.run(`W2 ${system.name}`, 240_000, system.nodes[1], (ctx) =>
        runRequestResponse(ctx, bench, system, "two nodes"),
      );
      if (result !== undefined) results.w2.push(result);
    }
  }
  if (wants("W3")) {
    for (const [index, size] of plan.broadcast.roomSizes.entries()) {
      const measured = await phases.run(`W3 room of ${size}`, 300_000, undefined, (ctx) => runBroadcast(ctx, bench, inTurn(index), size));
      if (measured !== undefined) results.w3.push(...measured);
    }
  }
  if (wants("W4")) {
    for (const system of inTurn(1)) {
      const result = await phases.run(`W4 ${system.name}`, 300_000, undefined, (ctx) => runIdleConnections(ctx, bench, system));
      if (result !== undefined) results.w4.push(result);
    }
  }
  if (wants("W5")) {
    for (const system of inTurn(0)) {
      const result = await phases.run(`W5 ${system.name}`, plan.slowConsumer.durationMs + 60_000, system.nodes[0], (ctx) =>
        runSlowConsumer(ctx, bench, system),
      );
      if (result !== undefined) results.w5.push(result);
    }
  }
  for (const system of systems) await system.stop();
  return finish();
}

function cleanUp(): void {
  killAllChildren();
  killAllRedis();
  removeDataDirs();
}

runBench(main, cleanUp, log);
