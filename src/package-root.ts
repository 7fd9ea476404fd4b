/** The folder holding roombus's package.json, found by walking up from this file (works from src/ and dist/src/). */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

let cached: { root: string; version: string } | undefined;

function find(): { root: string; version: string } {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: unknown; version?: unknown };
      if (pkg.name === "roombus" && typeof pkg.version === "string") return { root: dir, version: pkg.version };
    } catch {
      // No package.json here (or not ours): keep walking up.
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error("cannot find roombus's package.json above " + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

export function packageRoot(): string {
  cached ??= find();
  return cached.root;
}

export function packageVersion(): string {
  cached ??= find();
  return cached.version;
}
