import { describe, expect, it } from 'vitest';
import { CACHE_SLACK_MS, checkCache } from '../../src/chaos/cache.js';
import type { OpRecord, Outcome } from '../../src/chaos/history.js';

/** The bounded-staleness checker on hand-made histories of one key (bound 400 ms). */
const BOUND = 400;
let id = 0;
const write = (version: number, call_ms: number, ret_ms: number, outcome: Outcome = 'ok'): OpRecord => ({
  id: id++,
  workload: 'cache',
  client: 0,
  op: 'UpdateClient',
  keys: ['client/3001'],
  input: { key: '3001', version, value: `c3001-${version}`, portal: 0 },
  call_ms,
  ret_ms,
  outcome,
  result: {},
});
const read = (value: string | null, call_ms: number, ret_ms: number): OpRecord => ({
  id: id++,
  workload: 'cache',
  client: 9,
  op: 'RetrieveClient',
  keys: ['client/3001'],
  input: { key: '3001', portal: 1 },
  call_ms,
  ret_ms,
  outcome: 'ok',
  result: { value },
});

describe('cache checker', () => {
  it('accepts reads within the bound, and the initial value', () => {
    const ops = [write(1, 100, 110), read('c3001-0', 105, 106), read('c3001-0', 110 + BOUND + CACHE_SLACK_MS - 1, 620), read('c3001-1', 700, 701)];
    expect(checkCache(ops, BOUND)).toEqual({ checked: 3, violations: [] });
  });

  it('reports a read older than the bound (plus slack) allows', () => {
    const ops = [write(1, 100, 110), write(2, 120, 130), read('c3001-1', 130 + BOUND + CACHE_SLACK_MS + 1, 700)];
    const { violations } = checkCache(ops, BOUND);
    expect(violations).toHaveLength(1);
    expect(violations[0]).toMatchObject({ checker: 'cache-staleness', keys: ['client/3001'] });
    expect(violations[0]!.message).toMatch(/returned version 1, but version 2 was acknowledged/);
  });

  it('reports values from the future, never written, or of writes refused for certain', () => {
    for (const ops of [
      [write(1, 500, 510), read('c3001-1', 100, 200)],
      [read('c3001-7', 100, 200)],
      [read(null, 100, 200)],
      [write(1, 100, 110, 'fail'), read('c3001-1', 200, 210)],
    ]) {
      expect(checkCache(ops, BOUND).violations.map((v) => v.checker)).toEqual(['cache-staleness']);
    }
  });

  it('an unknown outcome may appear or not, and later acknowledged writes still supersede it', () => {
    const ops = [write(1, 100, 5_000, 'unknown'), read('c3001-0', 200, 210), read('c3001-1', 300, 310), write(2, 5_100, 5_110), read('c3001-1', 5_120, 5_130)];
    expect(checkCache(ops, BOUND).violations).toEqual([]);
    ops.push(read('c3001-1', 5_110 + BOUND + CACHE_SLACK_MS + 10, 6_000));
    expect(checkCache(ops, BOUND).violations).toHaveLength(1);
  });

  it('ignores failed reads and other workloads', () => {
    const failed = { ...read('c3001-9', 100, 200), outcome: 'fail' as const };
    const other = { ...read('c3001-9', 100, 200), workload: 'register' as const };
    expect(checkCache([failed, other], BOUND)).toEqual({ checked: 0, violations: [] });
  });
});
