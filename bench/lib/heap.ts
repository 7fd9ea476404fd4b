/**
 * Compares two V8 heap snapshots (before and after opening N connections) by what the objects are: constructor names
 * for objects, function names for closures, and V8's own categories for the rest. Self sizes only, so the figures add
 * up to the growth of the heap's live objects.
 */
import { readFileSync } from "node:fs";

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

interface Tally {
  count: number;
  bytes: number;
}

export interface HeapGrowth {
  key: string;
  countPerConnection: number;
  bytesPerConnection: number;
}

export interface HeapDiff {
  connections: number;
  totalBytesPerConnection: number;
  top: HeapGrowth[];
}

function categoryOf(type: string, name: string): string {
  switch (type) {
    case "object":
      return name;
    case "closure":
      return `closure ${name || "(anonymous)"}`;
    case "string":
    case "concatenated string":
    case "sliced string":
      return "(strings)";
    case "array":
      return `(array ${name})`;
    case "hidden":
    case "native":
    case "code":
      return `(${type} ${name.replace(/\d+/g, "#")})`;
    case "number":
      return "(heap numbers)";
    default:
      return `(${type})`;
  }
}

function tally(file: string): Map<string, Tally> {
  const snapshot = JSON.parse(readFileSync(file, "utf8")) as Snapshot;
  const fields = snapshot.snapshot.meta.node_fields;
  const types = snapshot.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf("type");
  const nameAt = fields.indexOf("name");
  const sizeAt = fields.indexOf("self_size");
  const result = new Map<string, Tally>();
  const { nodes, strings } = snapshot;
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + typeAt]!] ?? "?";
    if (type === "synthetic") continue;
    const key = categoryOf(type, strings[nodes[i + nameAt]!] ?? "");
    const entry = result.get(key) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += nodes[i + sizeAt]!;
    result.set(key, entry);
  }
  return result;
}

/** What grew between two snapshots, per connection, largest first. */
export function diffHeapSnapshots(beforeFile: string, afterFile: string, connections: number, limit = 25): HeapDiff {
  const before = tally(beforeFile);
  const after = tally(afterFile);
  const growth: HeapGrowth[] = [];
  let total = 0;
  for (const [key, entry] of after) {
    const old = before.get(key) ?? { count: 0, bytes: 0 };
    const bytes = entry.bytes - old.bytes;
    total += bytes;
    growth.push({
      key,
      countPerConnection: Math.round(((entry.count - old.count) / connections) * 100) / 100,
      bytesPerConnection: Math.round((bytes / connections) * 10) / 10,
    });
  }
  for (const [key, old] of before) if (!after.has(key)) total -= old.bytes;
  growth.sort((a, b) => b.bytesPerConnection - a.bytesPerConnection);
  return { connections, totalBytesPerConnection: Math.round(total / connections), top: growth.slice(0, limit) };
}

export function formatHeapDiff(name: string, diff: HeapDiff): string {
  return [
    `${name}: live heap objects grew ${diff.totalBytesPerConnection} B per connection (${diff.connections} connections); largest:`,
    ...diff.top.map(
      (g) => `  ${g.bytesPerConnection.toFixed(0).padStart(6)} B  ${g.countPerConnection.toFixed(2).padStart(6)} ×  ${g.key}`,
    ),
  ].join("\n");
}
