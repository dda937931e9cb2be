import { open, type RootDatabase } from 'lmdb';
import type { StateStore } from './state-store.js';

/**
 * A partition's state on disk, in LMDB. A batch of applied log entries and the index of the
 * last one are written in one durable transaction, so after a crash the state is exactly that
 * of some applied prefix of the log and replay resumes right after it.
 */
const APPLIED_KEY = '\u0000applied';

/**
 * Commit visibly now, flush in the background. The Raft log is the durable record of every
 * acknowledged write; after a machine crash that lost unflushed state, the replica restores
 * the latest snapshot if the state is older than it and replays the log from the state's last
 * applied index. Waiting for this flush too would double the fsyncs on every write.
 * (lmdb's TransactionFlags: ABORTABLE 1 | SYNCHRONOUS_COMMIT 2 | NO_SYNC_FLUSH 0x10000.)
 */
const COMMIT_WITHOUT_WAITING_FOR_FLUSH = 0x1 | 0x2 | 0x10000;

export class LmdbStateStore implements StateStore {
  private readonly db: RootDatabase;

  constructor(readonly path: string) {
    this.db = open({ path, compression: false, encoding: 'msgpack' });
  }

  get(key: string): unknown {
    return this.db.get(key);
  }

  put(key: string, value: unknown): void {
    if (value === undefined) void this.db.remove(key);
    else void this.db.put(key, value);
  }

  *range(prefix: string): Iterable<readonly [string, unknown]> {
    for (const { key, value } of this.db.getRange({ start: prefix, end: `${prefix}\uffff` })) yield [key as string, value];
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
