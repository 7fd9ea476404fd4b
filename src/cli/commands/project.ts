/** `roombus project <subcommand>`: the project's own resources, through the project REST API. */
import { type Command, type Io, runSubcommand } from "../args.js";
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
  return runSubcommand("project", USAGE, SUBCOMMANDS, argv, io);
}
