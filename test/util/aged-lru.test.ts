import { describe, expect, it } from 'vitest';
import { AgedLru } from '../../src/util/aged-lru.js';

describe('AgedLru: the one read-cache core', () => {
  it('serves an entry only while younger than the bound, counted from its stamp', () => {
    let now = 1_000;
    const lru = new AgedLru<string>({ bound_ms: 100, maxEntries: 10, now: () => now });
    lru.set('a', 'A', 950); // the value was known current when its read started, 50 ms ago
    expect(lru.get('a')).toEqual({ value: 'A' });
    now = 1_049;
    expect(lru.get('a')).toEqual({ value: 'A' });
    now = 1_050; // 100 ms after the stamp, not after set(): the bound is on the value's age
    expect(lru.get('a')).toBeUndefined();
    expect([lru.hits, lru.misses]).toEqual([2, 1]);
  });

  it('evicts the least recently used entry and reports it', () => {
    const evicted: string[] = [];
    const lru = new AgedLru<number>({ bound_ms: 1_000, maxEntries: 2, now: () => 0, onEvict: (key) => evicted.push(key) });
    lru.set('a', 1, 0);
    lru.set('b', 2, 0);
    expect(lru.get('a')).toEqual({ value: 1 }); // a is now more recent than b
    lru.set('c', 3, 0);
    expect(evicted).toEqual(['b']);
    expect([...lru.values()].sort()).toEqual([1, 3]);
    lru.delete('a');
    lru.clear();
    expect(evicted, 'deletions are not evictions').toEqual(['b']);
    expect(lru.size).toBe(0);
  });

  it('peek neither counts nor refreshes recency', () => {
    const lru = new AgedLru<number>({ bound_ms: 1_000, maxEntries: 2, now: () => 0 });
    lru.set('a', 1, 0);
    lru.set('b', 2, 0);
    expect(lru.peek('a')).toBe(1);
    lru.set('c', 3, 0);
    expect(lru.peek('a'), 'a was still the least recently used').toBeUndefined();
    expect([lru.hits, lru.misses]).toEqual([0, 0]);
  });

  it('refuses a bound or a size that cannot work', () => {
    expect(() => new AgedLru({ bound_ms: 0, maxEntries: 1 })).toThrow(/cache bound must be positive/);
    expect(() => new AgedLru({ bound_ms: 1, maxEntries: 0 })).toThrow(/at least one entry/);
  });
});
