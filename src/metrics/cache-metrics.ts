import { counterReadAtScrape, gaugeReadAtScrape, type MetricsRegistry } from './registry.js';

/** A portal's read cache (`--cache-ms`), as plain counts kept by the cache. */
export interface CacheCounts {
  readonly hits: number;
  readonly misses: number;
  /** Entries dropped because a write or the change feed named their record. */
  readonly invalidations: number;
  /** Whether the change feed is up (the cache serves only then, when it has one). */
  readonly feedConnected: boolean;
}

export function watchCache(registry: MetricsRegistry, cache: CacheCounts): void {
  counterReadAtScrape(registry, 'ecom_portal_cache_hits_total', 'Reads answered from the portal\'s read cache', () => cache.hits);
  counterReadAtScrape(registry, 'ecom_portal_cache_misses_total', 'Reads the portal\'s read cache sent on to storage', () => cache.misses);
  counterReadAtScrape(registry, 'ecom_portal_cache_invalidations_total', 'Cache entries dropped because a write or the change feed named their record', () => cache.invalidations);
  gaugeReadAtScrape(registry, 'ecom_portal_cache_feed_up', '1 while the change feed that keeps the cache fresh is connected (the cache serves only then), 0 otherwise', () => (cache.feedConnected ? 1 : 0));
}
