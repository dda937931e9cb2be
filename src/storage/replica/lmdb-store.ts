import { open, type RootDatabase } from 'lmdb';
import type { StateStore } from './state-store.js';

/**
 * A partition's state on disk, in LMDB. A batch of applied log entries and the index of the
 * last one are written in one transaction, so the state is always exactly that of some applied
 * prefix of the log and replay resumes right after it.
 *
 * LMDB is written without fsync (noSync): the Raft log, fsynced before any acknowledgement,
 * and the snapshot files are the durable record. The replica trusts this store only after a
 * clean stop and rebuilds it from them otherwise (src/replica/replica.ts). Syncing LMDB on
 * every batch as well halved the write throughput.
 */
/** Sorts before every other key, so a full scan meets it first. */
export const APPLIED_KEY = '\u0000applied';

/**
 * Commit visibly now, without waiting for a flush (lmdb's TransactionFlags: ABORTABLE 1 |
 * SYNCHRONOUS_COMMIT 2 | NO_SYNC_FLUSH 0x10000).
 */
const COMMIT_WITHOUT_WAITING_FOR_FLUSH = 0x1 | 0x2 | 0x10000;

export class LmdbStateStore implements StateStore {
  private readonly db: RootDatabase;

  constructor(readonly path: string) {
    this.db = open({ path, compression: false, encoding: 'msgpack', noSync: true });
  }

  get(key: string): unknown {
    return this.db.get(key);
  }

  put(key: string, value: unknown): void {
    if (value === undefined) void this.db.remove(key);
    else void this.db.put(key, value);
  }

  *range(prefix: string, from = prefix): Iterable<readonly [string, unknown]> {
    for (const { key, value } of this.db.getRange({ start: from < prefix ? prefix : from, end: `${prefix}\uffff` })) yield [key as string, value];
  }

  get lastApplied(): number {
    return (this.db.get(APPLIED_KEY) as number | undefined) ?? 0;
  }

  /** Runs `fn` (which reads and writes through this store) and records `applied`, all in one durable commit. */
  applyBatch(applied: number, fn: () => void): void {
    this.db.transactionSync(() => {
      fn();
      void this.db.put(APPLIED_KEY, applied);
    }, COMMIT_WITHOUT_WAITING_FOR_FLUSH);
  }

  /** Every key and value, for a snapshot. */
  dump(): Array<[string, unknown]> {
    const out: Array<[string, unknown]> = [];
    for (const { key, value } of this.db.getRange({})) if (key !== APPLIED_KEY) out.push([key as string, value]);
    return out;
  }

  /** Replaces the whole state with a snapshot's, in one durable commit. */
  restore(entries: ReadonlyArray<readonly [string, unknown]>, applied: number): void {
    this.db.transactionSync(() => {
      for (const { key } of this.db.getRange({})) void this.db.remove(key);
      for (const [key, value] of entries) void this.db.put(key, value);
      void this.db.put(APPLIED_KEY, applied);
    });
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
