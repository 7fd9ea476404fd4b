/**
 * The rules a service's environment must pass before a process is started with it: well-formed names, no name that
 * would let a value take over the process (a loader, an interpreter's startup hook, a shell's), no NUL byte, and
 * sizes the kernel accepts. Every refusal names the entry and the reason, never the value.
 */

/** POSIX's portable names: letters, digits and `_`, not starting with a digit. */
export const ENVIRONMENT_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Longer names only hide mistakes; the size limits below would allow them. */
export const MAX_NAME_CHARS = 256;

/**
 * One `NAME=value` string with its terminating NUL: Linux refuses an exec whose single argument or environment string
 * is longer than MAX_ARG_STRLEN (32 pages, 128 KiB) with E2BIG, so a longer one could never start.
 */
export const MAX_ENTRY_BYTES = 128 * 1024;

/**
 * The whole environment (inherited and added, each `NAME=value` plus its NUL). Linux counts argv and envp together
 * against ARG_MAX, a quarter of the stack limit (2 MiB with the usual 8 MiB stack); half of that leaves the command
 * line its room, and no service needs a megabyte of settings.
 */
export const MAX_TOTAL_BYTES = 1024 * 1024;

interface RefusedName {
  /** Matches the upper-cased name. */
  test: (upperName: string) => boolean;
  reason: string;
}

const exactly = (names: string[], reason: string): RefusedName => ({ test: (upper) => names.includes(upper), reason });
const startingWith = (prefix: string, reason: string): RefusedName => ({ test: (upper) => upper.startsWith(prefix), reason });

/**
 * Names a value could use to run code of its choosing in the service, or in any program the service starts. Matched
 * without regard to case (Windows' environment ignores case, and `Ld_Preload` is a mistake worth stopping anyway).
 * docs/decisions.md says which names were considered and left allowed.
 */
const REFUSED_NAMES: readonly RefusedName[] = [
  startingWith("LD_", "the dynamic loader reads it (LD_PRELOAD and LD_AUDIT load a library into every program)"),
  startingWith("DYLD_", "the macOS dynamic loader reads it (DYLD_INSERT_LIBRARIES loads a library into every program)"),
  exactly(["GCONV_PATH"], "glibc loads character-conversion modules from it"),
  exactly(["GLIBC_TUNABLES"], "the dynamic loader parses it before the program runs"),
  exactly(["PATH"], "it chooses which program a command name starts, including the service itself"),
  exactly(["BASH_ENV", "ENV"], "shells run the file it names when they start"),
  exactly(["SHELLOPTS", "BASHOPTS"], "it turns on shell options (xtrace prints every command with its values)"),
  exactly(["PS4"], "bash expands it, commands included, before every traced command"),
  exactly(["PROMPT_COMMAND"], "bash runs it before every prompt"),
  exactly(["IFS"], "it changes how shells split words, so a script runs other commands than written"),
  exactly(["CDPATH"], "it changes where a script's `cd` lands"),
  exactly(["NODE_OPTIONS"], "Node takes --require and --import from it and loads that code first"),
  exactly(["NODE_PATH"], "Node looks up modules there, so a module of that name replaces the real one"),
  exactly(["PYTHONSTARTUP"], "Python runs the file it names when it starts interactively"),
  exactly(["PYTHONPATH", "PYTHONHOME", "PYTHONUSERBASE"], "Python imports modules (and runs .pth files) from there"),
  exactly(["PYTHONBREAKPOINT"], "Python calls the function it names at every breakpoint()"),
  exactly(["PYTHONWARNINGS", "BROWSER"], "together they make Python import a module that starts a program"),
  exactly(["PERL5OPT"], "Perl takes -M and -I switches from it"),
  exactly(["PERL5LIB", "PERLLIB"], "Perl loads modules from there first"),
  exactly(["PERL5DB"], "Perl runs it as the debugger"),
  exactly(["RUBYOPT"], "Ruby takes -r (require) switches from it"),
  exactly(["RUBYLIB"], "Ruby loads libraries from there first"),
  exactly(["JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS"], "the JVM takes -javaagent and other options from it"),
  exactly(["GIT_SSH", "GIT_SSH_COMMAND", "GIT_EXEC_PATH"], "git runs the program it names"),
  exactly(["GIT_CONFIG_COUNT", "GIT_CONFIG_PARAMETERS"], "it adds git settings, some of which run commands"),
];

/** Why `name` may not be set in a service's environment, or undefined when it may. */
export function describeNameProblem(name: string): string | undefined {
  if (name.includes("\0")) return "the name contains a NUL byte";
  if (name.length === 0) return "the name is empty";
  if (name.length > MAX_NAME_CHARS) return `the name is longer than ${MAX_NAME_CHARS} characters`;
  if (!ENVIRONMENT_NAME_PATTERN.test(name)) return "a name must be letters, digits and _, not starting with a digit";
  const upper = name.toUpperCase();
  const refused = REFUSED_NAMES.find((rule) => rule.test(upper));
  return refused === undefined ? undefined : `refused name: ${refused.reason}`;
}

/** One variable for the child and where it came from, e.g. `container.environment[1] (SERVICE_API_TOKEN)`. */
export interface EnvironmentEntry {
  name: string;
  value: string;
  /** Names the entry in an error without its value. */
  source: string;
}

export class EnvironmentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EnvironmentError";
  }
}

/** The bytes one `NAME=value` string takes in the exec's environment block, its NUL included. */
export function entryBytes(name: string, value: string): number {
  return Buffer.byteLength(name, "utf8") + 1 + Buffer.byteLength(value, "utf8") + 1;
}

/**
 * The child's environment: `inherited` (already filtered by the caller; never checked against the name rules, it is
 * what the operator's own shell holds) plus `entries`, each checked. Two entries setting one name is an error naming
 * both: which of two sources should win is not something to guess. An entry does replace an inherited variable.
 */
export function buildEnvironment(inherited: Readonly<Record<string, string>>, entries: readonly EnvironmentEntry[]): Record<string, string> {
  const environment: Record<string, string> = { ...inherited };
  const setBy = new Map<string, string>();
  let total = 0;
  for (const [name, value] of Object.entries(inherited)) total += entryBytes(name, value);
  for (const entry of entries) {
    const nameProblem = describeNameProblem(entry.name);
    if (nameProblem !== undefined) throw new EnvironmentError(`${entry.source}: ${nameProblem}`);
    const earlier = setBy.get(entry.name);
    if (earlier !== undefined) {
      throw new EnvironmentError(`${earlier} and ${entry.source} both set ${entry.name}: remove one of them`);
    }
    if (entry.value.includes("\0")) throw new EnvironmentError(`${entry.source}: the value contains a NUL byte, which an environment cannot hold`);
    const bytes = entryBytes(entry.name, entry.value);
    if (bytes > MAX_ENTRY_BYTES) {
      throw new EnvironmentError(`${entry.source}: NAME=value is ${bytes} bytes; one variable holds at most ${MAX_ENTRY_BYTES} (128 KiB, Linux's MAX_ARG_STRLEN)`);
    }
    const inheritedValue = environment[entry.name];
    total += bytes - (inheritedValue === undefined ? 0 : entryBytes(entry.name, inheritedValue));
    if (total > MAX_TOTAL_BYTES) {
      throw new EnvironmentError(`${entry.source}: with it the environment is ${total} bytes, over the limit of ${MAX_TOTAL_BYTES} (1 MiB)`);
    }
    setBy.set(entry.name, entry.source);
    environment[entry.name] = entry.value;
  }
  return environment;
}

/**
 * The operator's environment minus every ROOMBUS_* variable (any case, as Windows would treat them), so the admin
 * token and the server's settings stay with roombus.
 */
export function inheritedEnvironment(parent: NodeJS.ProcessEnv): Record<string, string> {
  const inherited: Record<string, string> = {};
  for (const [name, value] of Object.entries(parent)) {
    if (value !== undefined && !name.toUpperCase().startsWith("ROOMBUS_")) inherited[name] = value;
  }
  return inherited;
}
