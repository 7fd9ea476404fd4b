/** The safety rules of a service's environment: names, refused names, NUL bytes, sizes, duplicates, ROOMBUS_*. */
import { describe, expect, it } from "vitest";
import {
  buildEnvironment,
  describeNameProblem,
  EnvironmentError,
  inheritedEnvironment,
  MAX_ENTRY_BYTES,
  MAX_TOTAL_BYTES,
  type EnvironmentEntry,
} from "../../src/service/environment.js";

const CANARY = "canary-value-91c2";

function buildError(inherited: Record<string, string>, entries: EnvironmentEntry[]): string {
  try {
    buildEnvironment(inherited, entries);
  } catch (error) {
    expect(error).toBeInstanceOf(EnvironmentError);
    return (error as Error).message;
  }
  throw new Error("the environment was built, but an error was expected");
}

const entry = (name: string, value: string, source = `entry ${name}`): EnvironmentEntry => ({ name, value, source });

describe("names that could take over a process are refused", () => {
  it.each([
    ["LD_PRELOAD", /dynamic loader/],
    ["LD_LIBRARY_PATH", /dynamic loader/],
    ["LD_AUDIT", /dynamic loader/],
    ["DYLD_INSERT_LIBRARIES", /macOS dynamic loader/],
    ["DYLD_LIBRARY_PATH", /macOS dynamic loader/],
    ["GCONV_PATH", /conversion modules/],
    ["GLIBC_TUNABLES", /dynamic loader/],
    ["PATH", /which program/],
    ["BASH_ENV", /shells run the file/],
    ["ENV", /shells run the file/],
    ["SHELLOPTS", /shell options/],
    ["BASHOPTS", /shell options/],
    ["PS4", /traced command/],
    ["PROMPT_COMMAND", /before every prompt/],
    ["IFS", /split words/],
    ["CDPATH", /cd/],
    ["NODE_OPTIONS", /--require/],
    ["NODE_PATH", /Node looks up modules/],
    ["PYTHONSTARTUP", /interactively/],
    ["PYTHONPATH", /Python imports/],
    ["PYTHONHOME", /Python imports/],
    ["PYTHONUSERBASE", /\.pth/],
    ["PYTHONBREAKPOINT", /breakpoint/],
    ["PYTHONWARNINGS", /starts a program/],
    ["BROWSER", /starts a program/],
    ["PERL5OPT", /-M/],
    ["PERL5LIB", /Perl loads modules/],
    ["PERLLIB", /Perl loads modules/],
    ["PERL5DB", /debugger/],
    ["RUBYOPT", /require/],
    ["RUBYLIB", /Ruby loads/],
    ["JAVA_TOOL_OPTIONS", /javaagent/],
    ["_JAVA_OPTIONS", /javaagent/],
    ["JDK_JAVA_OPTIONS", /javaagent/],
    ["GIT_SSH", /git runs/],
    ["GIT_SSH_COMMAND", /git runs/],
    ["GIT_EXEC_PATH", /git runs/],
    ["GIT_CONFIG_COUNT", /git settings/],
    ["GIT_CONFIG_PARAMETERS", /git settings/],
    // Case does not matter: Windows ignores it, and elsewhere it is a mistake worth stopping.
    ["ld_preload", /dynamic loader/],
    ["Node_Options", /--require/],
  ])("%s", (name, reason) => {
    const problem = describeNameProblem(name);
    expect(problem).toMatch(/^refused name: /);
    expect(problem).toMatch(reason);
    expect(buildError({}, [entry(name, CANARY, "container.environment[3] (X)")])).toMatch(/^container\.environment\[3\] \(X\): refused name: /);
  });

  it.each(["HOME", "NODE_ENV", "LD", "PATHS", "MY_PATH", "PYTHONUNBUFFERED", "SERVICE_API_TOKEN", "_private", "a1"])(
    "%s is allowed",
    (name) => {
      expect(describeNameProblem(name)).toBeUndefined();
    },
  );

  it.each([
    ["", /empty/],
    ["9LIVES", /not starting with a digit/],
    ["WITH-DASH", /letters, digits and _/],
    ["WITH SPACE", /letters, digits and _/],
    ["A=B", /letters, digits and _/],
    ["BASH_FUNC_x%%", /letters, digits and _/],
    ["NUL\0NAME", /NUL byte/],
    ["N".repeat(257), /longer than 256/],
  ])("a malformed name %j is refused", (name, reason) => {
    expect(describeNameProblem(name)).toMatch(reason);
  });
});

describe("values", () => {
  it("a NUL byte in a value is refused, naming the entry and not the value", () => {
    const message = buildError({}, [entry("TOKEN", `${CANARY}\0tail`, "project secret TOKEN")]);
    expect(message).toBe("project secret TOKEN: the value contains a NUL byte, which an environment cannot hold");
  });

  it("one NAME=value of more than 128 KiB is refused; exactly 128 KiB passes", () => {
    const fits = "x".repeat(MAX_ENTRY_BYTES - "BIG=".length - 1);
    expect(buildEnvironment({}, [entry("BIG", fits)]).BIG).toHaveLength(fits.length);
    const message = buildError({}, [entry("BIG", `${fits}x`, "container.environment[0] (BIG)")]);
    expect(message).toBe(`container.environment[0] (BIG): NAME=value is ${MAX_ENTRY_BYTES + 1} bytes; one variable holds at most ${MAX_ENTRY_BYTES} (128 KiB, Linux's MAX_ARG_STRLEN)`);
  });

  it("sizes count UTF-8 bytes, not characters", () => {
    const euros = "€".repeat(Math.floor(MAX_ENTRY_BYTES / 3));
    expect(buildError({}, [entry("E", euros)])).toMatch(/NAME=value is \d+ bytes/);
  });

  it("the whole environment, inherited part included, stays under 1 MiB; the entry that passes it is named", () => {
    const chunk = "y".repeat(100 * 1024);
    const inherited = Object.fromEntries(Array.from({ length: 8 }, (_, index) => [`INHERITED_${index}`, chunk]));
    expect(() => buildEnvironment(inherited, [entry("A", chunk)])).not.toThrow();
    const message = buildError(inherited, [entry("A", chunk, "key A"), entry("B", chunk, "key B"), entry("C", chunk, "key C")]);
    expect(message).toMatch(new RegExp(`^key C: with it the environment is \\d+ bytes, over the limit of ${MAX_TOTAL_BYTES} \\(1 MiB\\)$`));
  });

  it("replacing an inherited variable counts only the new value", () => {
    const chunk = "z".repeat(120 * 1024);
    const inherited = Object.fromEntries(Array.from({ length: 8 }, (_, index) => [`V${index}`, chunk]));
    expect(buildEnvironment(inherited, [entry("V0", chunk)]).V0).toBe(chunk);
  });
});

describe("sources", () => {
  it("two entries setting one name is an error naming both, and neither value", () => {
    const message = buildError({}, [
      entry("API_KEY", CANARY, "project secret API_KEY"),
      entry("OTHER", "x"),
      entry("API_KEY", `${CANARY}2`, "container.environment[1] (API_KEY)"),
    ]);
    expect(message).toBe("project secret API_KEY and container.environment[1] (API_KEY) both set API_KEY: remove one of them");
  });

  it("an entry replaces an inherited variable of the same name", () => {
    expect(buildEnvironment({ LOG_LEVEL: "info", KEEP: "1" }, [entry("LOG_LEVEL", "debug")])).toEqual({ LOG_LEVEL: "debug", KEEP: "1" });
  });

  it("the inherited environment drops every ROOMBUS_* variable, in any case, and nothing else", () => {
    expect(
      inheritedEnvironment({ ROOMBUS_TOKEN: CANARY, ROOMBUS_URL: "ws://x", roombus_token: CANARY, PATH: "/bin", ROOMBUSX: "kept", HOME: "/h", UNSET: undefined }),
    ).toEqual({ PATH: "/bin", ROOMBUSX: "kept", HOME: "/h" });
  });
});
