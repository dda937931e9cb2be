import { describe, expect, it } from 'vitest';
import { Histogram } from '../../src/bench/histogram.js';
import { FreshIds } from '../../src/bench/fresh-ids.js';
import { partitionOf } from '../../src/storage/common/partitioning.js';

describe('bench histogram', () => {
  it('reports percentiles within the bucket precision (under 2 %)', () => {
    const h = new Histogram();
    for (let ms = 1; ms <= 10_000; ms++) h.record_ms(ms / 10); // 0.1 ms .. 1000 ms, uniform
    const s = h.summary();
    expect(s.count).toBe(10_000);
    for (const [got, want] of [
      [s.p50_ms, 500],
      [s.p90_ms, 900],
      [s.p99_ms, 990],
      [s.p999_ms, 999],
    ] as const) {
      expect(Math.abs(got - want) / want).toBeLessThan(0.02);
    }
    expect(s.max_ms).toBe(1000);
    expect(s.p50_ms).toBeLessThanOrEqual(s.p90_ms);
  });

  it('is exact for small values and never reports above the maximum', () => {
    const h = new Histogram();
    for (const us of [3, 3, 3, 100]) h.record_us(us);
    expect(h.quantile_ms(0.5)).toBe(0.003);
    expect(h.quantile_ms(0.99)).toBe(0.1);
    const big = new Histogram();
    big.record_us(1_000_001);
    expect(big.quantile_ms(0.5)).toBeLessThanOrEqual(1000.001);
  });

  it('merges across workers as if one had recorded everything', () => {
    const a = new Histogram();
    const b = new Histogram();
    const all = new Histogram();
    for (let i = 0; i < 1000; i++) {
      const ms = (i * 7919) % 500;
      (i % 2 === 0 ? a : b).record_ms(ms);
      all.record_ms(ms);
    }
    const merged = Histogram.fromJSON(JSON.parse(JSON.stringify(a.toJSON())) as ReturnType<Histogram['toJSON']>).merge(b);
    expect(merged.summary()).toEqual(all.summary());
  });
});

describe('fresh IDs', () => {
  it('never repeat across workers and alternate partitions', () => {
    const seen = new Set<string>();
    const partitions = [0, 0];
    for (const worker of [0, 1, 10]) {
      const ids = new FreshIds('123', worker);
      for (let i = 0; i < 200; i++) {
        const id = ids.next();
        expect(seen.has(id)).toBe(false);
        seen.add(id);
        partitions[partitionOf(id, 2)]!++;
      }
      expect(partitionOf(ids.next(1), 2)).toBe(1);
      expect(partitionOf(ids.next(0), 2)).toBe(0);
    }
    expect(partitions).toEqual([300, 300]);
  });
});
