import type { Command, Reply } from '../../domain/commands.js';
import { clientOrderId, clientOrderPrefix, keyString, seqOfIndexId, type RecordKind, type RecordOfKind } from '../../domain/records.js';
import { StoreUnavailableError, type Backend, type ClientOrderPage } from '../../domain/backend.js';
import type { Logger } from '../../util/log.js';
import type { ReadCache } from './cache.js';
import { KeyLayout } from './keys.js';
import { KeyLanes, LaneTimeoutError, QueueFullError } from './key-lanes.js';
import { likelyKeys } from '../../domain/likely-keys.js';
import { NOT_APPLIED } from '../../domain/store-replies.js';
import { executeOptimistically, type AttemptStats } from './optimistic.js';
import { EtcdStore, EtcdUnavailableError } from './store.js';
import { ETCD_BACKEND_DEFAULTS } from './settings.js';
import { assert } from '../../util/assert.js';

export interface EtcdBackendOptions {
  readonly endpoints: readonly string[];
  readonly prefix: string;
  /** Deadline of a whole write (all attempts) and of a read. */
  readonly timeout_ms: number;
  /** Longest one etcd call may take before another member is tried. */
  readonly call_timeout_ms: number;
  /** Attempts of a write that keeps losing races before it answers 503. */
  readonly max_attempts: number;
  /** 0 disables the read cache. */
  readonly cache_ms: number;
  readonly log: Logger;
}

/**
 * etcd mode's backend: no data in the portal; every write is one guarded etcd transaction and
 * every read a linearizable etcd read (or a watch-invalidated cache hit when enabled).
 */
export class EtcdBackend implements Backend {
  readonly store: EtcdStore;
  readonly layout: KeyLayout;
  readonly stats: AttemptStats = { attempts: 0, conflicts: 0 };
  private cache: ReadCache | undefined;
  private readonly lanes = new KeyLanes(ETCD_BACKEND_DEFAULTS.max_waiting_writes);

  private constructor(private readonly options: EtcdBackendOptions) {
    this.layout = new KeyLayout(options.prefix);
    this.store = new EtcdStore({ endpoints: options.endpoints, layout: this.layout, call_timeout_ms: options.call_timeout_ms });
  }

  static async open(options: EtcdBackendOptions): Promise<EtcdBackend> {
    const backend = new EtcdBackend(options);
    if (options.cache_ms > 0) {
      const { ReadCache } = await import('./cache.js');
      backend.cache = ReadCache.start({ store: backend.store, layout: backend.layout, ttl_ms: options.cache_ms, log: options.log });
    }
    return backend;
  }

  async execute(command: Command): Promise<Reply> {
    const deadline_ms = Date.now() + this.options.timeout_ms;
    let leave: () => void;
    try {
      leave = await this.lanes.enter(likelyKeys(command).map(keyString), deadline_ms);
    } catch (err) {
      if (err instanceof QueueFullError || err instanceof LaneTimeoutError) {
        this.options.log.warn({ err: err.message, op: command.op }, 'write not attempted');
        return NOT_APPLIED;
      }
      throw err;
    }
    try {
      const timeout_ms = Math.max(0, deadline_ms - Date.now());
      return await executeOptimistically(this.store, command, { max_attempts: this.options.max_attempts, timeout_ms }, this.stats);
    } finally {
      leave();
    }
  }

  async read<K extends RecordKind>(kind: K, id: string): Promise<RecordOfKind<K> | undefined> {
    const key = { kind, id };
    const cached = this.cache?.lookup(key);
    if (cached !== undefined) return cached.record as RecordOfKind<K> | undefined;
    const started_ms = this.cache?.now() ?? 0;
    let result;
    try {
      result = await this.store.read([key], undefined, Date.now() + this.options.timeout_ms);
    } catch (err) {
      if (err instanceof EtcdUnavailableError) throw new StoreUnavailableError(`etcd did not answer in time: ${err.message}`);
      throw err;
    }
    const value = result.values.get(keyString(key));
    assert(value !== undefined, () => `etcd read did not return ${keyString(key)}`);
    this.cache?.offer(key, value, result.revision, started_ms);
    return value.record as RecordOfKind<K> | undefined;
  }

  /** Straight from etcd: the read cache holds single records, and a listing reads each page once. */
  async clientOrders(cid: string, afterSeq: number, limit: number): Promise<ClientOrderPage> {
    let page;
    try {
      page = await this.store.range('clientOrder', clientOrderPrefix(cid), clientOrderId(cid, afterSeq + 1), limit, Date.now() + this.options.timeout_ms);
    } catch (err) {
      if (err instanceof EtcdUnavailableError) throw new StoreUnavailableError(`etcd did not answer in time: ${err.message}`);
      throw err;
    }
    const entries = [];
    for (const { key, record } of page.records) {
      assert(record.kind === 'clientOrder', () => `etcd range of client ${cid}'s orders returned a ${record.kind} record`);
      // The number comes from the key, which the range is ordered by, so pages only move forward.
      const seq = seqOfIndexId(key);
      if (Number.isSafeInteger(seq)) entries.push({ seq, oid: record.oid });
    }
    return { entries, next: page.more ? (entries.at(-1)?.seq ?? afterSeq) : null };
  }

  /** The read cache, when enabled. */
  get readCache(): ReadCache | undefined {
    return this.cache;
  }

  async close(): Promise<void> {
    await this.cache?.stop();
    this.store.close();
  }
}
