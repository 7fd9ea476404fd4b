/** `roombus project <subcommand>`: the project's own resources, through the project REST API. */
import { HelpRequest, UsageError, printable, type Command, type Io } from "../args.js";
import { projectSecretCommand } from "./project-secret.js";

const SUBCOMMANDS: readonly Command[] = [projectSecretCommand];

const USAGE = `Usage: roombus project <command> [flags]

The project's resources on a roombus server, with a project admin token in ROOMBUS_TOKEN
(\`roombus token --identity ID --room '*' --api admin\`).

Commands:
${SUBCOMMANDS.map((command) => `  ${command.name.slice("project ".length).padEnd(20)}${command.summary}`).join("\n")}

Run \`roombus project <command> --help\` for more.

Example:
  roombus project secret list`;

export const projectCommand: Command = {
  name: "project",
  summary: "the project's secrets, key collections and image-pull secrets",
  run: runProject,
};

async function runProject(argv: string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) throw new UsageError("roombus project: missing command; see `roombus project --help`");
  if (name === "--help" || name === "-h" || name === "help") throw new HelpRequest(USAGE);
  const command = SUBCOMMANDS.find((candidate) => candidate.name === `project ${name}`);
  if (command === undefined) throw new UsageError(`roombus project: unknown command "${printable(name)}"; see \`roombus project --help\``);
  return command.run(rest, io);
}
