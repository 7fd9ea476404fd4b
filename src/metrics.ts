/**
 * Prometheus metrics for one server instance. Each server gets its own registry, so several servers in one test
 * process do not share counters. Labels are op names and outcomes only: never identities, rooms or values.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export class Metrics {
  readonly registry = new Registry();
  readonly sessions = new Gauge({ name: "roombus_sessions", help: "Open WebSocket sessions", registers: [this.registry] });
  readonly rooms = new Gauge({ name: "roombus_rooms", help: "Rooms with a participant on this node", registers: [this.registry] });
  readonly ops = new Counter({
    name: "roombus_ops_total",
    help: "Requests handled, by op and outcome (ok or an error name)",
    labelNames: ["op", "outcome"] as const,
    registers: [this.registry],
  });
  readonly opDuration = new Histogram({
    name: "roombus_op_duration_seconds",
    help: "Time from a request's arrival to its response, by op",
    labelNames: ["op"] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5, 30],
    registers: [this.registry],
  });
  readonly busPublishDuration = new Histogram({
    name: "roombus_bus_publish_duration_seconds",
    help: "Time for the bus to accept a publish",
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25],
    registers: [this.registry],
  });
  readonly pendingRequests = new Gauge({
    name: "roombus_pending_requests",
    help: "Calls waiting for another participant (tool calls, secret and OAuth requests)",
    registers: [this.registry],
  });
  readonly closes = new Counter({
    name: "roombus_socket_closes_total",
    help: "Sockets closed by the server, by reason",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly upgradeRefusals = new Counter({
    name: "roombus_upgrade_refusals_total",
    help: "WebSocket upgrades refused, by HTTP status",
    labelNames: ["status"] as const,
    registers: [this.registry],
  });

  private readonly opCounters = new Map<string, { count: Counter.Internal; timer: Histogram.Internal<"op"> }>();

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: "roombus_process_" });
  }

  /** Records one handled op; label children are cached so the hot path does no label hashing. */
  recordOp(op: string, outcome: string, seconds: number): void {
    const key = `${op}\u0000${outcome}`;
    let entry = this.opCounters.get(key);
    if (entry === undefined) {
      entry = { count: this.ops.labels(op, outcome), timer: this.opDuration.labels(op) };
      this.opCounters.set(key, entry);
    }
    entry.count.inc();
    entry.timer.observe(seconds);
  }
}
