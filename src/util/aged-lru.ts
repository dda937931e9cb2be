/**
 * The one cache core of both portal read caches (raft mode's `storage/client/read-cache.ts`,
 * etcd mode's `modes/etcd/cache.ts`): each entry is stamped with a moment at which its value
 * was known to be current, is served only while younger than the bound, and the least recently
 * used entry goes first when the cache is full. So `--cache-ms N` means the same in every mode:
 * a value served at time t was the stored value at some moment after t - N.
 */
export interface AgedLruOptions<V> {
  readonly bound_ms: number;
  readonly maxEntries: number;
  readonly now?: () => number;
  /** Told about each entry pushed out by a full cache (not about deletions or clear()). */
  readonly onEvict?: (key: string, value: V) => void;
}

interface Stamped<V> {
  readonly value: V;
  readonly at_ms: number;
}

export class AgedLru<V> {
  /** Map order is recency order: a hit moves its key to the end. */
  private readonly entries = new Map<string, Stamped<V>>();
  readonly now: () => number;
  hits = 0;
  misses = 0;

  constructor(private readonly options: AgedLruOptions<V>) {
    if (!(options.bound_ms > 0)) throw new Error(`cache bound must be positive, got ${options.bound_ms} ms`);
    if (!(options.maxEntries >= 1)) throw new Error(`the cache needs room for at least one entry, got ${options.maxEntries}`);
    this.now = options.now ?? Date.now;
  }

  /** The value if present and younger than the bound (a hit), else undefined (a miss). */
  get(key: string): { value: V } | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined || this.now() - entry.at_ms >= this.options.bound_ms) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.entries.delete(key);
    this.entries.set(key, entry);
    return { value: entry.value };
  }

  /** The value held for `key`, however old, without counting or touching its recency. */
  peek(key: string): V | undefined {
    return this.entries.get(key)?.value;
  }

  /** Keeps `value`, known current at `at_ms` (which must not be in the future). */
  set(key: string, value: V, at_ms: number): void {
    this.entries.delete(key);
    this.entries.set(key, { value, at_ms });
    while (this.entries.size > this.options.maxEntries) {
      const [oldest, entry] = this.entries.entries().next().value as [string, Stamped<V>];
      this.entries.delete(oldest);
      this.options.onEvict?.(oldest, entry.value);
    }
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }

  *values(): IterableIterator<V> {
    for (const entry of this.entries.values()) yield entry.value;
  }

  get size(): number {
    return this.entries.size;
  }
}
