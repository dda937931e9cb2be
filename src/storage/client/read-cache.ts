import { namedKeys, type Command, type Reply } from '../../domain/commands.js';
import { keyString, type RecordKind, type RecordOfKind } from '../../domain/records.js';
import type { Backend, ClientOrderPage } from '../../domain/backend.js';
import { AgedLru } from '../../util/aged-lru.js';

/**
 * An optional read cache in front of a portal's backend (the course asks for one). A cached
 * record is served for at most `bound_ms` after it was read, and dropped sooner when the
 * storage tier announces a change to it. Writes never consult the cache: every rule runs in
 * the storage tier's state machines, so a stale entry can make a read old by at most the
 * bound and can never make a write succeed.
 *
 * The contract the chaos suite's cache checker (src/chaos/cache.ts) relies on: an entry's age is
 * counted from when its storage read STARTED (a linearizable read, so it returns the state of
 * some moment at or after that start), and an entry is served only while younger than the
 * bound. So a read served at time t returns a state at least as new as the one at t - bound.
 *
 * With a change feed attached (`feedDown()` / `feedUp()`), announcements are lost while the feed
 * is disconnected, so the cache then serves nothing (reads go to storage), keeps nothing, and
 * drops everything it had both when the feed goes down and when it is back: an entry never
 * outlives a gap in the announcements it depends on.
 */
export interface ReadCacheOptions {
  readonly bound_ms: number;
  readonly maxEntries?: number;
  readonly now?: () => number;
  /**
   * A change feed will report through feedUp() / feedDown(): the cache starts as if the feed
   * were down (serving nothing) until the first feedUp(). Without one, entries only age out.
   */
  readonly feed?: boolean;
}

export class CachedBackend implements Backend {
  private readonly entries: AgedLru<unknown>;
  /** False while an attached change feed is disconnected: announcements may be lost then. */
  private feedUp_: boolean;
  /** Invalidations asked for so far (by writes through this portal and by the change feed), for metrics. */
  invalidations = 0;
  /**
   * Storage reads in flight, by key. A change to the key announced (or written by this portal)
   * while one is in flight may have landed before or after the read took its state, so that
   * read's result is served but not kept; the same after invalidateAll() (the feed went down or
   * came back: announcements may have been missed).
   */
  private readonly reading = new Map<string, Set<{ stale: boolean }>>();

  constructor(
    private readonly inner: Backend,
    private readonly options: ReadCacheOptions,
  ) {
    this.entries = new AgedLru({ bound_ms: options.bound_ms, maxEntries: options.maxEntries ?? 100_000, now: options.now });
    this.feedUp_ = options.feed !== true;
  }

  /** Not cached: a page is read once per listing, and the index has no change announcements. */
  clientOrders(cid: string, afterSeq: number, limit: number): Promise<ClientOrderPage> {
    return this.inner.clientOrders(cid, afterSeq, limit);
  }

  async execute(command: Command): Promise<Reply> {
    const reply = await this.inner.execute(command);
    // This portal's own writes are visible to its next reads at once; records the command
    // changes without naming them (stock, an order's client) are announced by the tier.
    for (const key of namedKeys(command)) this.invalidate(keyString(key));
    return reply;
  }

  async read<K extends RecordKind>(kind: K, id: string): Promise<RecordOfKind<K> | undefined> {
    const key = `${kind}/${id}`;
    // Nothing is kept while the feed is down, so a hit implies the feed is up.
    const cached = this.entries.get(key);
    if (cached !== undefined) return cached.value as RecordOfKind<K> | undefined;
    const at_ms = this.entries.now();
    const read = { stale: false };
    const reads = this.reading.get(key) ?? new Set();
    this.reading.set(key, reads.add(read));
    let record: RecordOfKind<K> | undefined;
    try {
      record = await this.inner.read(kind, id);
    } finally {
      reads.delete(read);
      if (reads.size === 0) this.reading.delete(key);
    }
    this.entries.delete(key);
    // Kept only if no change can have slipped past while it was read.
    if (!this.feedUp_ || read.stale) return record;
    this.entries.set(key, record, at_ms);
    return record;
  }

  /** A change announced by the storage tier (`client/44`): the next read goes to storage. */
  invalidate(key: string): void {
    this.invalidations++;
    this.entries.delete(key);
    for (const read of this.reading.get(key) ?? []) read.stale = true;
  }

  /** Drops every entry: the next read of anything goes to storage. */
  invalidateAll(): void {
    this.entries.clear();
    for (const reads of this.reading.values()) for (const read of reads) read.stale = true;
  }

  /** The change feed is disconnected: announcements from now on may be lost. */
  feedDown(): void {
    this.feedChanged(false);
  }

  /** The change feed is subscribed (again): what changed meanwhile was not announced, so start afresh. */
  feedUp(): void {
    this.feedChanged(true);
  }

  private feedChanged(up: boolean): void {
    this.feedUp_ = up;
    this.invalidateAll();
  }

  get hits(): number {
    return this.entries.hits;
  }

  get misses(): number {
    return this.entries.misses;
  }

  get feedConnected(): boolean {
    return this.feedUp_;
  }

  get size(): number {
    return this.entries.size;
  }

  close(): Promise<void> {
    this.entries.clear();
    return this.inner.close();
  }
}
