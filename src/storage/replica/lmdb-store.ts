import { open as openFile } from 'node:fs/promises';
import { join } from 'node:path';
import { open, type RootDatabase } from 'lmdb';
import { assert } from '../../util/assert.js';
import type { StateStore } from './state-store.js';

/**
 * A partition's state on disk, in LMDB. A batch of applied log entries and the index of the
 * last one are written in one transaction, so the state is always exactly that of some applied
 * prefix of the log and replay resumes right after it.
 *
 * LMDB is written without fsync per batch (noSync): the Raft log, fsynced before any
 * acknowledgement, is the durable record of every entry. Syncing LMDB on every batch as well
 * cost more than half the write throughput (a plain synced commit here: ~500 batches/s against
 * ~10,000; lmdb-js's overlappingSync, which keeps integrity, commits no faster when every
 * commit is synchronous, as applying must be). Instead the store is made durable at snapshot
 * points (makeDurable: one fdatasync of the data file, off the event loop), and the snapshot
 * the replica takes is this store at that point, not a copy of it (snapshot-format.ts).
 *
 * What noSync risks, after the LMDB documentation ("a system crash can corrupt the database or
 * lose the last transactions if buffers are not yet flushed to disk"; integrity holds only "if
 * the filesystem preserves write order", which ext4 does not promise):
 * - a process crash (kill -9, OOM) loses nothing: committed pages are in the OS page cache, and
 *   LMDB's copy-on-write commit leaves the file consistent at the last commit;
 * - a machine crash (power loss, kernel panic) may leave the file damaged by the writes made
 *   after the last durable point. The replica tells the two apart by the boot id and checks the
 *   store after a machine crash (state-recovery.ts).
 */
/** Sorts before every other key, so a full scan meets it first. */
export const APPLIED_KEY = '\u0000applied';

/**
 * Commit visibly now, without waiting for a flush (lmdb's TransactionFlags: ABORTABLE 1 |
 * SYNCHRONOUS_COMMIT 2 | NO_SYNC_FLUSH 0x10000).
 */
const COMMIT_WITHOUT_WAITING_FOR_FLUSH = 0x1 | 0x2 | 0x10000;

/** A store opened only to read (the snapshot worker's view, a copy's applied index). */
export function openReadOnly(path: string): RootDatabase {
  return open({ path, compression: false, encoding: 'msgpack', noSync: true, readOnly: true });
}

export class LmdbStateStore implements StateStore {
  private db: RootDatabase;
  private path_: string;
  /**
   * The applied index as last committed, kept beside the store: it is asked for once per
   * entry a replica is handed (to skip the ones applied already), and reading it from LMDB
   * costs about 0.4 µs each time (bench/store-reads.ts). Only this class writes APPLIED_KEY.
   */
  private applied_: number | undefined;

  constructor(path: string) {
    this.path_ = path;
    this.db = open({ path, compression: false, encoding: 'msgpack', noSync: true });
  }

  /** The folder the store is in; it moves when a store file from a leader is installed (switchTo). */
  get path(): string {
    return this.path_;
  }

  /**
   * Makes the store at `path` (a durable, checked store file) this store from now on: every
   * read and write goes there. Settles once the old environment is closed, so its folder can go.
   */
  switchTo(path: string): Promise<void> {
    const next = open({ path, compression: false, encoding: 'msgpack', noSync: true });
    const old = this.db;
    this.db = next;
    this.path_ = path;
    this.applied_ = undefined;
    return old.close();
  }

  get(key: string): unknown {
    return this.db.get(key);
  }

  put(key: string, value: unknown): void {
    assert(key !== APPLIED_KEY, 'the applied index is written only with the batch it ends (applyBatch)');
    if (value === undefined) void this.db.remove(key);
    else void this.db.put(key, value);
  }

  *range(prefix: string, from = prefix): Iterable<readonly [string, unknown]> {
    for (const { key, value } of this.db.getRange({ start: from < prefix ? prefix : from, end: `${prefix}\uffff` })) yield [key as string, value];
  }

  keys(prefix: string, from: string, end: string): Iterable<string> {
    const top = `${prefix}\uffff`;
    return this.db.getKeys({ start: from < prefix ? prefix : from, end: end > top ? top : end }) as Iterable<string>;
  }

  get lastApplied(): number {
    this.applied_ ??= (this.db.get(APPLIED_KEY) as number | undefined) ?? 0;
    return this.applied_;
  }

  /** Runs `fn` (which reads and writes through this store) and records `applied`, all in one durable commit. */
  applyBatch(applied: number, fn: () => void): void {
    this.db.transactionSync(() => {
      fn();
      void this.db.put(APPLIED_KEY, applied);
    }, COMMIT_WITHOUT_WAITING_FOR_FLUSH);
    this.applied_ = applied;
  }

  /**
   * Makes every commit so far durable and answers the applied index they reach: at least the
   * one returned, as the store only moves forward. One fdatasync of the data file on libuv's
   * thread pool: its cost is the pages written since the last one, not the size of the state.
   */
  async makeDurable(): Promise<number> {
    const applied = this.lastApplied;
    const file = await openFile(join(this.path, 'data.mdb'), 'r');
    try {
      await file.datasync();
    } finally {
      await file.close();
    }
    return applied;
  }

  /**
   * Replaces the whole state with a snapshot's, in one commit (made durable by the next
   * snapshot; until then the snapshot file holds the copy): `fill` puts every key through the function it is given; `fill` returns the applied index
   * the new state holds. A `fill` that throws leaves the state as it was.
   */
  replaceAll(fill: (put: (key: string, value: unknown) => void) => number): void {
    this.applied_ = undefined;
    this.db.transactionSync(() => {
      for (const { key } of this.db.getRange({})) void this.db.remove(key);
      const applied = fill((key, value) => void this.db.put(key, value));
      void this.db.put(APPLIED_KEY, applied);
    });
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
