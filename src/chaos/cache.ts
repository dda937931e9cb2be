import { PortalClient } from '../client/portal-client.js';
import type { Command, Reply } from '../domain/commands.js';
import { Prng } from '../util/random.js';
import { outcomeOfReply, type OpRecord, type Recorder, type Violation } from './history.js';
import { defined } from '../util/assert.js';

/**
 * The cache workload through the gRPC portals, whose read caches (`--cache-ms`) are invalidated
 * by the storage tier's change feed over MQTT: a few client records of its own (both
 * partitions), each updated by ONE writer, sequentially, with versioned names `c<key>-<n>`, and
 * read by several readers through random portals. The checker then bounds how stale a read may
 * be (docs/spec.md R-CONS-9: portal caches serve reads only within the configured staleness bound).
 *
 * The argument, from the cache's contract (src/storage/client/read-cache.ts): an entry's age counts
 * from when the portal STARTED its storage read, which is linearizable, so the entry holds the
 * state of some moment at or after that start; and an entry is served only while younger than
 * the bound B. Say a read is called at c (harness clock) and served at h ≥ c from an entry whose
 * storage read started at s > h - B ≥ c - B. A write acknowledged to the harness at a < c - B
 * took effect before a, hence before s, so the entry (or a read that missed) holds that write or
 * a later one. So, per key, for a read returning version i:
 *
 * 1. no write j > i may have been acknowledged (outcome ok) before c - B - SLACK;
 * 2. the write of version i must not have been called after the read returned (no future);
 * 3. version i must have been written (the initial version 0, or a write whose outcome was ok
 *    or unknown; a write refused for certain never happened).
 *
 * A write with an unknown outcome may or may not appear; since one writer issues them in order,
 * later writes still order after it (versions only grow). The slack: the portal measures ages
 * with Date.now() (whole milliseconds, the wall clock, which NTP may slew) and the history with
 * the harness's performance.now(); 100 ms covers that disagreement many times over, while a
 * cache that ignored the bound would be stale for whole fault holds (0.8-2.5 s).
 */
export const CACHE_KEYS = ['3001', '3002', '3003', '3004'];
export const CACHE_SLACK_MS = 100;
const READERS = 4;

const valueOf = (key: string, version: number) => `c${key}-${version}`;

/** Creates the workload's records (version 0) through `execute`, retrying: it runs before any fault. */
export async function setupCache(execute: (command: Command) => Promise<Pick<Reply, 'code'>>): Promise<void> {
  for (const key of CACHE_KEYS) {
    for (let attempt = 0; ; attempt++) {
      const reply = await execute({ op: 'CreateClient', cid: key, data: JSON.stringify({ name: valueOf(key, 0) }) });
      // A retried create that had in fact been applied answers "exists": fine.
      if (reply.code === 0 || (reply.code === 400 && attempt > 0)) break;
      if (reply.code !== 503 || attempt > 20) throw new Error(`cache setup: client ${key} answered ${JSON.stringify(reply)}`);
    }
  }
}

export interface CacheOptions {
  readonly portalPorts: readonly number[];
  readonly seed: number;
  readonly recorder: Recorder;
  readonly running: () => boolean;
}


const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runCache(options: CacheOptions): Promise<void> {
  const rng = new Prng(options.seed ^ 0xcac4e);
  const portals = options.portalPorts.map((port) => new PortalClient({ host: '127.0.0.1', port, timeout_ms: 8_000 }));
  const { recorder } = options;
  const writer = async (key: string, client: number) => {
    const mine = rng.fork();
    let portal = mine.int(portals.length);
    for (let version = 1; options.running() && !recorder.full; version++) {
      // Sticky: a writer stays on one portal for a few writes, so another portal's cached
      // entry is not refreshed by its own writes and must rely on the feed and the bound.
      if (mine.chance(1 / 3)) portal = mine.int(portals.length);
      const value = valueOf(key, version);
      const rec = recorder.begin('cache', client, 'UpdateClient', [`client/${key}`], { key, version, value, portal });
      try {
        const reply = await portals[portal]!.updateClient(key, JSON.stringify({ name: value }));
        recorder.end(rec, outcomeOfReply(reply), reply);
      } catch (err) {
        recorder.end(rec, 'unknown', { error: (err as Error).message });
      }
      // Spaced writes leave entries time to be served (and to go stale if the cache is wrong).
      await pause(rec.outcome === 'ok' ? 50 + mine.int(100) : 200);
    }
  };
  const reader = async (client: number) => {
    const mine = rng.fork();
    while (options.running() && !recorder.full) {
      const key = mine.pick(CACHE_KEYS);
      const portal = mine.int(portals.length);
      const rec = recorder.begin('cache', client, 'RetrieveClient', [`client/${key}`], { key, portal });
      try {
        const found = await portals[portal]!.retrieveClient(key);
        const name = found.CID === key ? (JSON.parse(found.data || '{}') as { nome?: unknown }).nome : null;
        recorder.end(rec, 'ok', { value: typeof name === 'string' ? name : null, CID: found.CID });
      } catch (err) {
        // A failed read returned nothing: recorded for the report, ignored by the checker.
        recorder.end(rec, 'fail', { error: (err as Error).message });
        await pause(200);
        continue;
      }
      await pause(10 + mine.int(20));
    }
  };
  try {
    await Promise.all([...CACHE_KEYS.map((key, i) => writer(key, i)), ...Array.from({ length: READERS }, (_, r) => reader(CACHE_KEYS.length + r))]);
  } finally {
    portals.forEach((p) => p.close());
  }
}

/** Checks every successful cache read against its key's writes (see the argument above). */
export function checkCache(ops: readonly OpRecord[], bound_ms: number): { checked: number; violations: Violation[] } {
  const violations: Violation[] = [];
  let checked = 0;
  for (const key of CACHE_KEYS) {
    const mine = ops.filter((o) => o.workload === 'cache' && (o.input as { key?: string }).key === key && o.outcome !== undefined);
    const writes = new Map<number, OpRecord>();
    for (const w of mine) if (w.op === 'UpdateClient') writes.set((w.input as { version: number }).version, w);
    // One writer: versions were written in order, so acknowledgements come in version order.
    const acked = [...writes.entries()].filter(([, w]) => w.outcome === 'ok').sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < acked.length; i++) {
      if (returnOf(acked[i]?.[1]) < returnOf(acked[i - 1]?.[1])) throw new Error(`cache workload: writes of client/${key} overlapped; the checker assumes one sequential writer`);
    }
    const problems: string[] = [];
    for (const read of mine) {
      if (read.op !== 'RetrieveClient' || read.outcome !== 'ok') continue;
      checked++;
      const value = (read.result as { value: string | null }).value;
      const match = value === null ? null : /^c(\d+)-(\d+)$/.exec(value);
      const version = match !== null && match[1] === key ? Number(match[2]) : NaN;
      const write = writes.get(version);
      const at = `read #${read.id} (called ${fmt(read.call_ms)}, returned ${fmt(returnOf(read))})`;
      if (!(version === 0 || (write !== undefined && write.outcome !== 'fail'))) {
        problems.push(`${at} returned ${JSON.stringify(value)}, which was never written`);
        continue;
      }
      if (write !== undefined && write.call_ms > returnOf(read)) {
        problems.push(`${at} returned version ${version}, written only from ${fmt(write.call_ms)}`);
        continue;
      }
      // The newest version acknowledged before the read's call minus the bound (and the slack).
      const horizon = read.call_ms - bound_ms - CACHE_SLACK_MS;
      let newest = 0;
      let newestWrite: OpRecord | undefined;
      for (const [v, w] of acked) {
        if (returnOf(w) >= horizon) break;
        newest = v;
        newestWrite = w;
      }
      if (version < newest) {
        problems.push(`${at} returned version ${version}, but version ${newest} was acknowledged at ${fmt(returnOf(newestWrite))}, ${fmt(read.call_ms - returnOf(newestWrite))} before the read (bound ${bound_ms} ms + ${CACHE_SLACK_MS} ms slack)`);
      }
    }
    if (problems.length > 0) {
      violations.push({
        checker: 'cache-staleness',
        message: `client/${key}: ${problems.length} read(s) beyond the cache's staleness bound or of values never written; first: ${problems[0]}`,
        keys: [`client/${key}`],
      });
    }
  }
  return { checked, violations };
}

function fmt(ms: number): string {
  return `${(ms / 1000).toFixed(3)} s`;
}

/** When a settled operation returned; the checker only looks at operations that did. */
function returnOf(op: OpRecord | undefined): number {
  const settled = defined(op, 'a settled operation');
  return defined(settled.ret_ms, () => `return time of operation #${settled.id}`);
}
