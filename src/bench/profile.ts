import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { defined } from '../util/assert.js';

/**
 * Where the time goes: sums the self time of each function in V8 .cpuprofile files (written
 * by `ECOM_CHILD_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" ecom bench ...`), grouped by
 * process, so the storage replicas' profile can be read next to the load generators'.
 */
interface CpuProfile {
  readonly nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }>;
  readonly startTime: number;
  readonly endTime: number;
  readonly samples?: number[];
  readonly timeDeltas?: number[];
}

export interface ProfileSummary {
  readonly file: string;
  readonly total_ms: number;
  /** Share of wall time this process spent on the CPU (rest: idle, waiting on I/O or the OS). */
  readonly busy_fraction: number;
  readonly top: Array<{ name: string; self_ms: number; share: number }>;
  /** Self time by category (our code, node internals, libraries, GC, idle). */
  readonly categories: Record<string, number>;
}

function category(url: string, name: string): string {
  if (name === '(idle)') return 'idle';
  if (name === '(garbage collector)') return 'garbage collection';
  if (name === '(program)') return 'V8/native (program)';
  if (url.includes('/node_modules/lmdb')) return 'lmdb';
  if (url.includes('/node_modules/@grpc')) return 'grpc-js';
  if (url.includes('/node_modules/')) return 'other libraries';
  if (url.startsWith('node:')) return 'node core (net, fs, streams, timers)';
  if (url.includes('/src/raft/')) return 'ecom raft';
  if (url.includes('/src/storage/replica/') || url.includes('/src/net/')) return 'ecom replica + wire';
  if (url.includes('/src/storage/')) return 'ecom storage';
  if (url.includes('/src/')) return 'ecom other';
  return url === '' ? 'native/builtin' : 'other';
}

export function summariseProfile(file: string, topN = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (deltas[i + 1] ?? deltas[i] ?? 0)));
  const total_ms = (profile.endTime - profile.startTime) / 1000;
  const perFunction = new Map<string, number>();
  const categories: Record<string, number> = {};
  for (const [id, us] of self) {
    const node = defined(byId.get(id), `profile node ${id}`);
    const { functionName, url, lineNumber } = node.callFrame;
    const name = `${functionName || '(anonymous)'} ${url.replace(/^.*\/(src|node_modules)\//, '$1/')}:${lineNumber + 1}`;
    perFunction.set(name, (perFunction.get(name) ?? 0) + us / 1000);
    const cat = category(url, functionName);
    categories[cat] = (categories[cat] ?? 0) + us / 1000;
  }
  const idle = categories.idle ?? 0;
  const top = [...perFunction.entries()]
    .filter(([name]) => !name.startsWith('(idle)'))
    .sort((a, b) => b[1] - a[1])
    .slice(0, topN)
    .map(([name, self_ms]) => ({ name, self_ms, share: self_ms / total_ms }));
  return { file, total_ms, busy_fraction: total_ms > 0 ? 1 - idle / total_ms : 0, top, categories };
}

/** Every .cpuprofile under `dir`, largest (longest-lived, busiest) first. */
export function profilesIn(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(dir, f))
    .sort((a, b) => statSync(b).size - statSync(a).size);
}

export function describeProfile(s: ProfileSummary): string {
  const lines = [`${s.file}: ${(s.total_ms / 1000).toFixed(1)} s profiled, on CPU ${(s.busy_fraction * 100).toFixed(0)} %`];
  const cats = Object.entries(s.categories).sort((a, b) => b[1] - a[1]);
  lines.push(`  by category: ${cats.map(([c, ms]) => `${c} ${((ms / s.total_ms) * 100).toFixed(1)} %`).join(', ')}`);
  for (const t of s.top) lines.push(`  ${(t.share * 100).toFixed(1).padStart(5)} %  ${t.name}`);
  return lines.join('\n');
}
