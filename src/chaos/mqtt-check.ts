import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PortalClient } from '../client/portal-client.js';
import { MemoryState } from '../domain/memory-state.js';
import type { StateReply } from '../modes/mqtt/protocol.js';
import type { Violation } from './history.js';
import type { RecordReader } from './shop.js';

/**
 * mqtt mode's own checks: every portal's state at one point of the log is the same (the mode's
 * whole promise), and no portal ever saw a divergence on the way there.
 */

/** JSON with object keys sorted, so equal values give equal text whatever order they were built in. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function recordsByKey(state: StateReply): Map<string, string> {
  return new Map(state.records.map(([kind, id, record]) => [`${kind}/${id}`, canonicalJson(record)]));
}

/**
 * All answers to one state request must be equal: same number of commands applied, same running
 * digest, same deduplication table, same records. Differences name the records involved.
 */
export function checkIdentical(states: readonly StateReply[]): Violation[] {
  const violations: Violation[] = [];
  const [first, ...rest] = states;
  if (first === undefined) return [{ checker: 'portals-identical', message: 'no portal answered the final state request', keys: [] }];
  const mine = recordsByKey(first);
  for (const other of rest) {
    const where = `portals ${first.from} and ${other.from}`;
    if (other.position !== first.position || other.digest !== first.digest) {
      violations.push({ checker: 'portals-identical', message: `${where} applied different logs: position ${first.position} digest ${first.digest} vs position ${other.position} digest ${other.digest}`, keys: [] });
    }
    if (canonicalJson(other.applied) !== canonicalJson(first.applied)) {
      violations.push({ checker: 'portals-identical', message: `${where} hold different deduplication tables`, keys: [] });
    }
    const theirs = recordsByKey(other);
    const differing = [...new Set([...mine.keys(), ...theirs.keys()])].filter((key) => mine.get(key) !== theirs.get(key)).sort();
    if (differing.length > 0) {
      const shown = differing.slice(0, 5).map((key) => `${key}: ${mine.get(key) ?? 'absent'} vs ${theirs.get(key) ?? 'absent'}`);
      violations.push({ checker: 'portals-identical', message: `${where} differ on ${differing.length} records, e.g. ${shown.join('; ')}`, keys: differing.slice(0, 20) });
    }
  }
  return violations;
}

/** The records of one portal's state, read like the storage tier's. */
export function readerOf(state: StateReply): RecordReader {
  const data = MemoryState.fromSnapshot({ records: state.records });
  return { read: (kind, id) => Promise.resolve(data.get(kind, id)), clientOrders: (cid, afterSeq, limit) => Promise.resolve(data.clientOrders(cid, afterSeq, limit)) };
}

/** A portal logs DIVERGENCE when its digest differs from a peer's at the same position: never expected. */
export function checkDivergenceLogs(logDir: string): Violation[] {
  const violations: Violation[] = [];
  for (const file of readdirSync(logDir).filter((f) => f.startsWith('portal-') && f.endsWith('.log'))) {
    const lines = readFileSync(join(logDir, file), 'utf8').split('\n').filter((line) => line.includes('DIVERGENCE'));
    if (lines.length > 0) violations.push({ checker: 'portals-identical', message: `${file} logged ${lines.length} divergence(s), first: ${lines[0]!.slice(0, 300)}`, keys: [] });
  }
  return violations;
}

/**
 * What each portal serves over gRPC is its state: the products' stock read from every portal
 * must be what the state answer said (the workload has stopped, so nothing changes meanwhile).
 */
export async function checkServed(portals: ReadonlyArray<{ name: string; port: number }>, state: StateReply, pids: readonly string[]): Promise<Violation[]> {
  const data = MemoryState.fromSnapshot({ records: state.records });
  const violations: Violation[] = [];
  for (const portal of portals) {
    const client = new PortalClient({ host: '127.0.0.1', port: portal.port, timeout_ms: 5_000 });
    try {
      for (const pid of pids) {
        const served = await client.retrieveProduct(pid);
        const quantity = served.data === '' ? undefined : Number((JSON.parse(served.data) as { quantidade?: unknown }).quantidade);
        const expected = data.get('product', pid)?.quantity;
        if (quantity !== expected) violations.push({ checker: 'portals-identical', message: `${portal.name} serves stock ${quantity} for product ${pid}; its state holds ${expected}`, keys: [`product/${pid}`] });
      }
    } finally {
      client.close();
    }
  }
  return violations;
}
