/** Reads a V8 .cpuprofile (node --cpu-prof) and ranks functions by self and inclusive time. */
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface FunctionTime {
  name: string;
  /** Source file relative to the project (or node:internal), with the line. */
  where: string;
  selfMs: number;
  selfPercent: number;
  totalMs: number;
  totalPercent: number;
}

export interface ProfileSummary {
  file: string;
  durationMs: number;
  /** Time outside idle: what the server spent working. */
  busyMs: number;
  idleMs: number;
  gcMs: number;
  top: FunctionTime[];
  /** Self time grouped by where the code lives (roombus src, ws, msgpackr, zod, prom-client, node internals, ...). */
  byModule: { module: string; selfMs: number; percent: number }[];
}

function shortenUrl(url: string): string {
  if (url === "") return "(native)";
  const nodeModules = url.lastIndexOf("/node_modules/");
  if (nodeModules >= 0) return url.slice(nodeModules + "/node_modules/".length);
  const dist = url.indexOf("/dist/");
  if (dist >= 0) return url.slice(dist + 1);
  return url.replace(/^file:\/\//, "");
}

function moduleOf(url: string, name: string): string {
  if (name === "(garbage collector)") return "(gc)";
  if (name === "(idle)" || name === "(program)" || name === "(root)") return name;
  if (url === "") return "(native)";
  const nodeModules = url.lastIndexOf("/node_modules/");
  if (nodeModules >= 0) {
    const rest = url.slice(nodeModules + "/node_modules/".length).split("/");
    return rest[0]!.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith("node:")) return "node internals";
  const match = /\/dist\/(src\/[^/]+|bench)/.exec(url);
  if (match !== null) return `roombus ${match[1]}`;
  return "other";
}

/** Summarizes one profile; `limit` functions in `top`, ranked by self time. */
export function summarizeProfile(file: string, limit = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const keyOf = (node: ProfileNode): string =>
    `${node.callFrame.functionName || "(anonymous)"}\u0000${shortenUrl(node.callFrame.url)}:${node.callFrame.lineNumber + 1}`;

  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const modules = new Map<string, number>();
  let idle = 0;
  let gc = 0;
  let all = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    // timeDeltas[i] is the time before sample i; attribute it to sample i, as Chrome DevTools does.
    const delta = (profile.timeDeltas[i] ?? 0) / 1000;
    const leaf = byId.get(profile.samples[i]!);
    if (leaf === undefined) continue;
    all += delta;
    const name = leaf.callFrame.functionName;
    if (name === "(idle)") {
      idle += delta;
      continue;
    }
    if (name === "(garbage collector)") gc += delta;
    const leafKey = keyOf(leaf);
    self.set(leafKey, (self.get(leafKey) ?? 0) + delta);
    const module = moduleOf(leaf.callFrame.url, name);
    modules.set(module, (modules.get(module) ?? 0) + delta);
    const seen = new Set<string>();
    for (let node: ProfileNode | undefined = leaf; node !== undefined; node = byId.get(parent.get(node.id) ?? -1)) {
      const key = keyOf(node);
      if (seen.has(key)) continue;
      seen.add(key);
      total.set(key, (total.get(key) ?? 0) + delta);
    }
  }
  const busy = all - idle;
  const percent = (ms: number): number => (busy > 0 ? Math.round((ms / busy) * 1000) / 10 : 0);
  const round = (ms: number): number => Math.round(ms * 10) / 10;
  const top = [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([key, ms]) => {
      const [name, where] = key.split("\u0000") as [string, string];
      const inclusive = total.get(key) ?? ms;
      return { name, where, selfMs: round(ms), selfPercent: percent(ms), totalMs: round(inclusive), totalPercent: percent(inclusive) };
    });
  const byModule = [...modules.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([module, ms]) => ({ module, selfMs: round(ms), percent: percent(ms) }));
  return { file, durationMs: round(all), busyMs: round(busy), idleMs: round(idle), gcMs: round(gc), top, byModule };
}

/** A plain-text report of a summary: totals, self time by module, then the top functions. */
export function formatProfile(summary: ProfileSummary): string {
  const lines = [
    `profile ${summary.file}`,
    `  ${summary.durationMs} ms sampled, ${summary.busyMs} ms busy, ${summary.idleMs} ms idle, ${summary.gcMs} ms GC`,
    "  self time by module:",
    ...summary.byModule.slice(0, 14).map((m) => `    ${m.percent.toFixed(1).padStart(5)}%  ${m.selfMs.toFixed(0).padStart(7)} ms  ${m.module}`),
    "  top functions by self time (self% / inclusive%):",
    ...summary.top.map(
      (f) =>
        `    ${f.selfPercent.toFixed(1).padStart(5)}% ${f.totalPercent.toFixed(1).padStart(6)}%  ${f.name}  ${f.where}`,
    ),
  ];
  return lines.join("\n");
}
