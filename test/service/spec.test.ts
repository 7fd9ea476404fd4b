/** Reading Service and ServiceTemplate YAML: the shape of seed 001, and errors that name the path and line. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseSpec, SpecError } from "../../src/service/spec.js";

const FIXTURES = join(import.meta.dirname, "fixtures");
const fixture = (name: string) => readFileSync(join(FIXTURES, name), "utf8");

/** The message of the SpecError that parsing `yaml` throws. */
function specError(yaml: string): string {
  try {
    parseSpec(yaml, "spec.yaml");
  } catch (error) {
    expect(error).toBeInstanceOf(SpecError);
    return (error as Error).message;
  }
  throw new Error("the spec parsed, but an error was expected");
}

/** A valid Service whose container.environment holds `entries` (YAML lines, indented for the list). */
const withEnvironment = (entries: string) => `version: v1
kind: Service
metadata:
  name: svc
container:
  environment:
${entries}`;

describe("a Service in the shape of seed 001", () => {
  it("reads every environment source, the key collections and the pull secret; agents and storage are ignored", () => {
    const spec = parseSpec(fixture("service.yaml"), "service.yaml");
    expect(spec).toEqual({
      kind: "Service",
      name: "support-agent",
      keyCollections: ["weather-api"],
      pullSecret: "acme-registry",
      variables: [],
      environment: [
        { name: "MESHAGENT_TOKEN", label: "container.environment[0] (MESHAGENT_TOKEN)", source: { kind: "token", identity: "support-agent", api: undefined, role: undefined } },
        { name: "SERVICE_API_TOKEN", label: "container.environment[1] (SERVICE_API_TOKEN)", source: { kind: "secret", identity: "support-agent", id: "service-api-token" } },
        { name: "LOG_LEVEL", label: "container.environment[2] (LOG_LEVEL)", source: { kind: "value", value: "debug" } },
      ],
    });
  });

  it("takes a token's api as a list of grants or in the claim's shape, and its role", () => {
    const spec = parseSpec(
      withEnvironment(`    - name: A
      token: {identity: bot, api: [messaging, secrets], role: agent}
    - name: B
      token: {identity: bot, api: {admin: {}}}`),
      "spec.yaml",
    );
    expect(spec.environment.map((entry) => entry.source)).toEqual([
      { kind: "token", identity: "bot", api: { messaging: {}, secrets: {} }, role: "agent" },
      { kind: "token", identity: "bot", api: { admin: {} }, role: undefined },
    ]);
  });

  it("reads a ServiceTemplate's variables with their annotations", () => {
    const spec = parseSpec(fixture("template.yaml"), "template.yaml");
    expect(spec.kind).toBe("ServiceTemplate");
    expect(spec.variables[0]).toEqual({
      name: "service_api_token",
      description: "Sensitive token provided by the installer",
      obscure: true,
      optional: false,
      annotations: {
        "meshagent.secret.id": "service-api-token",
        "meshagent.secret.identity": "support-agent",
        "meshagent.secret.name": "service-api-token",
        "meshagent.secret.type": "text/plain",
      },
    });
    expect(spec.variables.map((variable) => variable.name)).toEqual(["service_api_token", "webhook_secret", "greeting"]);
  });
});

describe("spec errors name the YAML path and line", () => {
  it.each([
    ["a secret without its id", withEnvironment(`    - name: A\n      value: x\n    - name: B\n      value: y\n    - name: C\n      secret:\n        identity: bot`), "spec.yaml:13: container.environment[2].secret.id: required"],
    ["an entry with no source", withEnvironment(`    - name: A`), "spec.yaml:7: container.environment[0]: give exactly one of value, token and secret (none given)"],
    ["an entry with two sources", withEnvironment(`    - name: A\n      value: x\n      secret: {identity: bot, id: a}`), "container.environment[0]: give exactly one of value, token and secret (value and secret given)"],
    ["a number as a value", withEnvironment(`    - name: PORT\n      value: 8080`), "spec.yaml:8: container.environment[0].value: must be a string (quote numbers and booleans)"],
    ["a misspelt field", withEnvironment(`    - name: A\n      valeu: x`), "spec.yaml:8: container.environment[0]: unknown field \"valeu\""],
    ["a bad name", withEnvironment(`    - name: 9LIVES\n      value: x`), "container.environment[0].name: a name must be letters, digits and _, not starting with a digit"],
    ["a refused name", withEnvironment(`    - name: LD_PRELOAD\n      value: /tmp/x.so`), "container.environment[0].name: refused name: the dynamic loader"],
    ["a bad identity", withEnvironment(`    - name: A\n      token: {identity: "no spaces"}`), "container.environment[0].token.identity: must be an identity"],
    ["an unknown grant", withEnvironment(`    - name: A\n      token: {identity: bot, api: [everything]}`), "container.environment[0].token.api: must be a list of grants"],
    ["a bad role", withEnvironment(`    - name: A\n      token: {identity: bot, role: king}`), "container.environment[0].token.role: must be \"user\" or \"agent\" or \"tool\""],
    ["a missing kind", "version: v1\nmetadata: {name: a}\n", "spec.yaml:1: kind: required"],
    ["a wrong version", "version: v2\nkind: Service\nmetadata: {name: a}\n", "spec.yaml:1: version: must be \"v1\""],
    ["an unknown kind", "version: v1\nkind: Deployment\nmetadata: {name: a}\n", "spec.yaml:2: kind: must be \"Service\" or \"ServiceTemplate\""],
    ["a bad collection name", "version: v1\nkind: Service\nmetadata: {name: a}\ncontainer:\n  secrets: [Weather_API]\n", "spec.yaml:5: container.secrets[0]: must be a key collection name"],
    ["a collection listed twice", "version: v1\nkind: Service\nmetadata: {name: a}\ncontainer:\n  secrets: [a, a]\n", "container.secrets[1]: already listed as container.secrets[0]"],
    ["variables in a Service", "version: v1\nkind: Service\nmetadata: {name: a}\nvariables: []\n", "spec.yaml:4: variables: only a ServiceTemplate has variables"],
    ["a variable named twice", "version: v1\nkind: ServiceTemplate\nmetadata: {name: a}\nvariables:\n  - name: v\n  - name: v\n", "spec.yaml:6: variables[1].name: already used by variables[0]"],
    ["an annotation that is not text", "version: v1\nkind: ServiceTemplate\nmetadata: {name: a}\nvariables:\n  - name: v\n    annotations:\n      meshagent.secret.id: [a]\n", "variables[0].annotations[\"meshagent.secret.id\"]: must be a string"],
    ["a list at the top", "- a\n- b\n", "spec.yaml:1: the document must be a mapping"],
    ["a duplicate key", "version: v1\nversion: v1\n", "spec.yaml:2: not valid YAML: Map keys must be unique"],
    ["broken YAML", "version: v1\nkind: [Service\n", "spec.yaml:3: not valid YAML"],
  ])("%s", (_label, yaml, expected) => {
    expect(specError(yaml)).toContain(expected);
  });

  it("counts the other problems without listing them", () => {
    expect(specError("version: v1\n")).toMatch(/^spec\.yaml:1: kind: required \(and 1 more problem\)$/);
  });

  it("never quotes a value, even a misplaced one", () => {
    const canary = "canary-value-4b1d";
    for (const yaml of [
      withEnvironment(`    - name: LD_PRELOAD\n      value: ${canary}`),
      withEnvironment(`    - name: A\n      value: ${canary}\n      token: {identity: bot}`),
      withEnvironment(`    - name: A\n      secret: {identity: bot, id: a, extra: ${canary}}`),
      `version: v1\nkind: ${canary}\n`,
      `version: v1\nkind: Service\nmetadata: {name: a}\ncontainer:\n  environment:\n    - name: A\n      value: "${canary}\n`,
    ]) {
      expect(specError(yaml)).not.toContain(canary);
    }
  });

  it("refuses aliases that would expand past the bound", () => {
    const lines = ["version: v1", "kind: Service", "metadata: {name: a}", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"];
    for (let level = 1; level < 8; level++) {
      lines.push(`a${level}: &a${level} [${Array.from({ length: 10 }, () => `*a${level - 1}`).join(", ")}]`);
    }
    expect(specError(lines.join("\n"))).toMatch(/^spec\.yaml: not usable YAML: .*alias/i);
  });
});
