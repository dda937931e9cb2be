import { afterEach, describe, expect, it, vi } from 'vitest';
import { PortalFeed, SCRAPE_INTERVAL_MS } from '../../src/dashboard/portal-feed.js';
import type { Sample } from '../../src/dashboard/portal-rates.js';
import type { NewEvent } from '../../src/dashboard/timeline.js';

/** The portal feed's timeline events, from a scripted sequence of scrapes (the seam `ecom up` fills with real ones). */
const portal = 'order-server-1';
const counter = (name: string, value: number): Sample => ({ name, labels: { process: portal }, value });

function scrapes(sequence: ReadonlyArray<readonly Sample[]>): () => Promise<readonly Sample[]> {
  let i = 0;
  return () => Promise.resolve(sequence[Math.min(i++, sequence.length - 1)]!);
}

describe('portal feed events', () => {
  afterEach(() => vi.useRealTimers());

  it('tells recoveries, feed changes at once, and invalidations summed over ten seconds', async () => {
    vi.useFakeTimers();
    const feed = (recovered: number, feedUp: number, invalidations: number) => [
      counter('ecom_storage_transactions_recovered_total', recovered),
      counter('ecom_portal_cache_feed_up', feedUp),
      counter('ecom_portal_cache_invalidations_total', invalidations),
    ];
    const sequence = [feed(0, 1, 0), feed(2, 1, 5), feed(2, 0, 5), feed(2, 1, 9), ...Array.from({ length: 12 }, () => feed(2, 1, 9))];
    const events: NewEvent[] = [];
    const portals = new PortalFeed(scrapes(sequence));
    portals.start((e) => events.push(e));
    await vi.advanceTimersByTimeAsync(SCRAPE_INTERVAL_MS * 3);
    expect(events.map((e) => e.text)).toEqual([
      'order-server-1 finished 2 abandoned cross-partition transactions (2PC recovery: expired locks, unfinished verdicts)',
      'order-server-1: change feed down; read cache cleared, reads go to storage',
      'order-server-1: change feed back; its read cache serves again',
    ]);
    await vi.advanceTimersByTimeAsync(SCRAPE_INTERVAL_MS * 10);
    expect(events.slice(3).map((e) => e.text)).toEqual(['order-server-1: 9 read-cache entries invalidated in 10 s (writes and the change feed named their records)']);
    expect(portals.view?.rows).toEqual([]);
    portals.stop();
  });
});
