/** Reading a spec or template file from disk, with the size bound checked before the whole file is read. */
import { readFile, stat } from "node:fs/promises";
import { MAX_SPEC_BYTES, parseSpec, SpecError, type ServiceSpec } from "./spec.js";

/** Reads and parses `path`; every failure is a SpecError naming the file. */
export async function readSpecFile(path: string): Promise<ServiceSpec> {
  let text: string;
  try {
    const { size } = await stat(path);
    if (size > MAX_SPEC_BYTES) throw new SpecError(`${path}: larger than ${MAX_SPEC_BYTES} bytes; a spec is a page of settings`);
    text = await readFile(path, "utf8");
  } catch (error) {
    if (error instanceof SpecError) throw error;
    throw new SpecError(`cannot read ${path}: ${describeReadError(error)}`, { cause: error });
  }
  return parseSpec(text, path);
}

function describeReadError(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  if (code === "ENOENT") return "no such file";
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  if (code === "EISDIR") return "it is a directory";
  return typeof code === "string" ? code : error instanceof Error ? error.message : String(error);
}
