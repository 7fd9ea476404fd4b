/** Which template variables become room secrets, from their meshagent.secret.* or roombus.secret.* annotations. */
import { describe, expect, it } from "vitest";
import type { TemplateVariable } from "../../src/service/spec.js";
import { planInstall, TemplateError } from "../../src/service/template.js";

const variable = (name: string, annotations: Record<string, string> = {}): TemplateVariable => ({
  name,
  description: undefined,
  obscure: true,
  optional: false,
  annotations,
});

function planError(variables: TemplateVariable[]): string {
  try {
    planInstall(variables);
  } catch (error) {
    expect(error).toBeInstanceOf(TemplateError);
    return (error as Error).message;
  }
  throw new Error("the plan was made, but an error was expected");
}

describe("secret annotations", () => {
  it("seed 001's meshagent.secret.* give the id, identity, name and type", () => {
    const [plan] = planInstall([
      variable("service_api_token", {
        "meshagent.secret.id": "service-api-token",
        "meshagent.secret.identity": "support-agent",
        "meshagent.secret.name": "service-api-token",
        "meshagent.secret.type": "text/plain",
        "meshagent.other": "ignored",
      }),
    ]);
    expect(plan!.secret).toEqual({ id: "service-api-token", identity: "support-agent", name: "service-api-token", type: "text/plain" });
  });

  it("roombus.secret.* work the same; the type defaults to text/plain and the name to none", () => {
    const [plan] = planInstall([variable("hook", { "roombus.secret.id": "hook", "roombus.secret.identity": "bot" })]);
    expect(plan!.secret).toEqual({ id: "hook", identity: "bot", name: undefined, type: "text/plain" });
  });

  it("both prefixes may be given when they agree", () => {
    const [plan] = planInstall([
      variable("v", { "meshagent.secret.id": "a", "roombus.secret.id": "a", "meshagent.secret.identity": "bot" }),
    ]);
    expect(plan!.secret?.id).toBe("a");
  });

  it("a variable without secret annotations is planned but not stored", () => {
    expect(planInstall([variable("greeting", { "meshagent.ui.order": "1" })])[0]!.secret).toBeUndefined();
  });

  it.each([
    [{ "meshagent.secret.id": "a" }, "variables[1] (v): it has secret annotations but no meshagent.secret.identity"],
    [{ "roombus.secret.name": "A" }, "variables[1] (v): it has secret annotations but no meshagent.secret.identity"],
    [{ "meshagent.secret.identity": "bot" }, "variables[1] (v): it has secret annotations but no meshagent.secret.id"],
    [{ "meshagent.secret.identity": "not an identity", "meshagent.secret.id": "a" }, "meshagent.secret.identity must be an identity"],
    [{ "meshagent.secret.identity": "bot", "meshagent.secret.id": "" }, "meshagent.secret.id must be 1 to 256 characters"],
    [{ "meshagent.secret.identity": "bot", "meshagent.secret.id": "a", "roombus.secret.id": "b" }, "meshagent.secret.id and roombus.secret.id disagree"],
    [{ "meshagent.secret.identity": "bot", "meshagent.secret.id": "a", "meshagent.secret.kind": "x" }, "unknown annotation \"meshagent.secret.kind\""],
  ])("%j is refused, naming the variable", (annotations, expected) => {
    expect(planError([variable("fine"), variable("v", annotations)])).toContain(expected);
  });
});
