/**
 * The one place where a request becomes a response: look the op up, validate its args with the op's schema, run
 * the handler, and turn whatever happened into exactly one response frame. A RoombusError keeps its code; anything
 * else is a bug and becomes 1100 `internal` with a correlation id that is also in the log.
 */
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { z } from "zod";
import type { Metrics } from "../metrics.js";
import { RoombusError } from "../protocol/errors.js";
import { encodeError, encodeResult, type RequestFrame } from "../protocol/frames.js";
import { OPS, isOpName, type OpName } from "../protocol/ops.js";
import { TOO_LARGE } from "../protocol/common.js";
import type { Handler, Handlers, OpContext } from "./handler.js";

export class Router {
  constructor(
    private readonly handlers: Handlers,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {}

  /** Runs one request and resolves to its encoded response; never rejects. */
  async dispatch(ctx: OpContext, frame: RequestFrame): Promise<Buffer> {
    const started = performance.now();
    const op = frame.op;
    if (!isOpName(op)) {
      this.metrics.recordOp("unknown", "invalid_request", 0);
      return encodeError(frame.id, new RoombusError("invalid_request", "unknown op").toWire());
    }
    let outcome = "ok";
    try {
      const parsed = (OPS[op].args as z.ZodType).safeParse(frame.args);
      if (!parsed.success) throw errorForIssue(op, parsed.error);
      const handler = this.handlers[op] as Handler<OpName>;
      const result = await handler(ctx, parsed.data as never);
      return encodeResult(frame.id, result);
    } catch (error) {
      if (error instanceof RoombusError) {
        outcome = error.errorName;
        return encodeError(frame.id, error.toWire());
      }
      outcome = "internal";
      const correlationId = randomUUID();
      this.logger.error({ err: error, op, correlationId, participantId: ctx.participant.id }, "op failed with a bug");
      return encodeError(
        frame.id,
        new RoombusError("internal", `internal error; correlation id ${correlationId}`).toWire(),
      );
    } finally {
      this.metrics.recordOp(op, outcome, (performance.now() - started) / 1000);
    }
  }
}

function errorForIssue(op: string, error: z.ZodError): RoombusError {
  const issue = error.issues[0];
  if (issue?.code === "custom" && (issue.params as { reason?: string } | undefined)?.reason === TOO_LARGE) {
    return new RoombusError("too_large", `${op}: args.${issue.path.join(".")} is ${issue.message}`);
  }
  return new RoombusError("invalid_request", describeIssue(op, error));
}

/** Names the offending field and what was expected, never the value that was sent (it may be a secret). */
function describeIssue(op: string, error: z.ZodError): string {
  const issue = error.issues[0];
  if (issue === undefined) return `${op}: invalid args`;
  const path = issue.path.length > 0 ? `args.${issue.path.join(".")}` : "args";
  switch (issue.code) {
    case "unrecognized_keys":
      return `${op}: unexpected field(s) in ${path}: ${issue.keys.map((key) => JSON.stringify(key.slice(0, 64))).join(", ")}`;
    case "invalid_type":
      return `${op}: ${path} must be ${issue.expected}`;
    case "too_big":
      return `${op}: ${path} is too large (maximum ${String(issue.maximum)})`;
    case "too_small":
      return `${op}: ${path} is too small (minimum ${String(issue.minimum)})`;
    case "invalid_format":
      return `${op}: ${path} has an invalid format`;
    default:
      return `${op}: ${path} is invalid`;
  }
}
