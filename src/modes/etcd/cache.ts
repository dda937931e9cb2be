import type { IKeyValue, IWatchResponse, Watcher } from 'etcd3';
import { keyString, type RecordKey, type StoredRecord } from '../../domain/records.js';
import { AgedLru } from '../../util/aged-lru.js';
import type { Logger } from '../../util/log.js';
import { decodeRecord, type KeyLayout } from './keys.js';
import type { EtcdStore, Versioned } from './store.js';

/**
 * An optional read cache for one portal, kept current by etcd's watch stream on the shop's
 * prefix. Only reads use it; writes always read etcd, so a stale entry can never make a write
 * succeed. Each entry remembers the revision it is known to be true at, so a slow read that
 * returns after a newer change was watched cannot overwrite that change.
 */

interface Entry {
  readonly record: StoredRecord | undefined;
  /** The entry is the key's value as of this store revision. */
  readonly asOf: bigint;
}

export interface ReadCacheOptions {
  readonly store: EtcdStore;
  readonly layout: KeyLayout;
  /**
   * A served value was current at most this long ago (counted from the start of the read that
   * fetched it, or from when the watch delivered it): a bound on staleness should the watch
   * stall silently. The same meaning as raft mode's `--cache-ms` (src/util/aged-lru.ts).
   */
  readonly ttl_ms: number;
  readonly log: Logger;
  /** Bound on memory; the least recently used entries go first. */
  readonly max_entries?: number;
}

export class ReadCache {
  private readonly entries: AgedLru<Entry>;
  /** Values as of this revision or older are refused: a watch event newer than them may have been missed or evicted. */
  private floor = 0n;
  private connected = false;
  /** Every change up to this revision has been heard from the watch. */
  private heardRevision = 0n;
  private readonly waiters = new Set<{ revision: bigint; resolve: () => void }>();
  private readonly readyWaiters = new Set<() => void>();
  private watcher: Watcher | undefined;
  private stopped = false;

  private constructor(private readonly options: ReadCacheOptions) {
    // An evicted entry's revision becomes the floor: a read older than it could bring back a
    // value whose later change the cache heard and has now forgotten.
    this.entries = new AgedLru<Entry>({
      bound_ms: options.ttl_ms,
      maxEntries: options.max_entries ?? 10_000,
      onEvict: (_key, entry) => {
        if (entry.asOf > this.floor) this.floor = entry.asOf;
      },
    });
  }

  /**
   * Starts watching without waiting for etcd: a portal must come up (and answer 503s) while
   * etcd is down. Until etcd confirms the watch, every read goes to etcd.
   */
  static start(options: ReadCacheOptions): ReadCache {
    const cache = new ReadCache(options);
    cache.subscribe();
    return cache;
  }

  private subscribe(): void {
    if (this.stopped) return;
    const { options } = this;
    const watcher = options.store.client.watch().prefix(options.layout.root).watcher();
    this.watcher = watcher;
    watcher.on('connected', (res: IWatchResponse) => {
      // Changes before this revision were never heard: refuse reads older than it.
      this.reset(BigInt(res.header.revision));
      this.connected = true;
      for (const waiter of this.readyWaiters) waiter();
      this.readyWaiters.clear();
    });
    watcher.on('disconnected', (err: Error) => {
      // While the stream is down we cannot hear about changes: serve nothing from memory.
      this.connected = false;
      this.reset(this.floor);
      options.log.warn({ err: err.message }, 'etcd watch lost; read cache off until it reconnects');
    });
    watcher.on('error', (err: Error) => {
      // etcd cancelled the watch (for example its resume revision was compacted): start a new one.
      this.connected = false;
      this.reset(this.floor);
      options.log.warn({ err: err.message }, 'etcd watch cancelled; read cache off, watching again in 1 s');
      void watcher.cancel().catch(() => undefined);
      setTimeout(() => this.subscribe(), 1_000).unref();
    });
    watcher.on('put', (kv: IKeyValue) => this.onChange(kv, true));
    watcher.on('delete', (kv: IKeyValue) => this.onChange(kv, false));
    // A response's header revision says every change up to it has been delivered.
    watcher.on('data', (res: IWatchResponse) => this.heard(BigInt(res.header.revision)));
    watcher.on('connected', (res: IWatchResponse) => this.heard(BigInt(res.header.revision)));
  }

  private heard(revision: bigint): void {
    if (revision <= this.heardRevision) return;
    this.heardRevision = revision;
    for (const waiter of this.waiters) {
      if (waiter.revision <= revision) {
        this.waiters.delete(waiter);
        waiter.resolve();
      }
    }
  }

  /** Resolves once etcd has confirmed the watch, i.e. once the cache is in use. */
  ready(timeout_ms: number): Promise<void> {
    if (this.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.readyWaiters.delete(waiter);
        reject(new Error(`the etcd watch was not confirmed within ${timeout_ms} ms`));
      }, timeout_ms);
      this.readyWaiters.add(waiter);
    });
  }

  /** Resolves once the watch has delivered every change up to `revision` (for tests and settling). */
  caughtUp(revision: string, timeout_ms: number): Promise<void> {
    const wanted = BigInt(revision);
    if (wanted <= this.heardRevision) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = {
        revision: wanted,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`the etcd watch did not reach revision ${revision} within ${timeout_ms} ms`));
      }, timeout_ms);
      this.waiters.add(waiter);
    });
  }

  private reset(floor: bigint): void {
    for (const entry of this.entries.values()) if (entry.asOf > floor) floor = entry.asOf;
    this.entries.clear();
    this.floor = floor;
  }

  private onChange(kv: IKeyValue, isPut: boolean): void {
    const etcdKey = kv.key.toString('utf8');
    const key = this.options.layout.parse(etcdKey);
    if (key === undefined) return;
    const asOf = BigInt(kv.mod_revision);
    let record: StoredRecord | undefined;
    if (isPut) {
      try {
        record = decodeRecord(key.kind, etcdKey, kv.value);
      } catch (err) {
        this.options.log.error({ err }, 'ignoring a foreign value in the watch stream');
        this.entries.delete(keyString(key));
        if (asOf > this.floor) this.floor = asOf;
        return;
      }
    }
    this.store(key, record, asOf, this.entries.now());
  }

  /** The cached value, or undefined when the caller must read etcd. */
  lookup(key: RecordKey): { record: StoredRecord | undefined } | undefined {
    if (!this.connected) return undefined;
    const hit = this.entries.get(keyString(key));
    return hit === undefined ? undefined : { record: hit.value.record };
  }

  /** The clock entries are stamped with: take it before a read whose result will be offered. */
  now(): number {
    return this.entries.now();
  }

  /**
   * A value read from etcd at `revision` by a read that started at `readStarted_ms`; kept
   * unless something newer is already known.
   */
  offer(key: RecordKey, value: Versioned, revision: string, readStarted_ms: number): void {
    if (!this.connected) return;
    this.store(key, value.record, BigInt(revision), readStarted_ms);
  }

  private store(key: RecordKey, record: StoredRecord | undefined, asOf: bigint, at_ms: number): void {
    if (asOf <= this.floor) return;
    const name = keyString(key);
    const current = this.entries.peek(name);
    if (current !== undefined && current.asOf >= asOf) return;
    this.entries.set(name, { record, asOf }, at_ms);
  }

  get hits(): number {
    return this.entries.hits;
  }

  get misses(): number {
    return this.entries.misses;
  }

  get size(): number {
    return this.entries.size;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.connected = false;
    await this.watcher?.cancel();
  }
}
