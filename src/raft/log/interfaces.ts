// The storage shapes a Raft driver needs (after hashicorp/raft's LogStore/StableStore/SnapshotStore).
// The file-backed implementation and the simulator's in-memory disk both implement them.
import type { Entry, HardState, Snapshot } from '../types.js';

export interface LogStore {
  /** Index of the first retained entry (compacted index + 1). */
  firstIndex(): number;
  /** Index of the last entry, or firstIndex() - 1 when empty. */
  lastIndex(): number;
  /** Entries [lo, hi], inclusive; throws if any of them is not retained. */
  entries(lo: number, hi: number): Entry[];
  /**
   * Appends entries; when entries[0].index ≤ lastIndex() the suffix from there is replaced first
   * (a follower overwriting a conflicting tail). Not durable until sync().
   */
  append(entries: readonly Entry[]): void;
  /** Forgets entries ≤ index because a durable snapshot covers them. */
  compact(index: number): void;
  /** Drops the whole log: it now continues after a snapshot at `index`. Not durable until sync(). */
  resetTo(index: number): void;
}

export interface StableStore {
  hardState(): HardState;
  /** Not durable until sync(). */
  setHardState(hs: HardState): void;
}

export interface Syncable {
  /** Makes every earlier append/setHardState/resetTo durable with one flush (group commit). */
  sync(): void;
}

export interface SnapshotStore {
  /** Durable and atomic on return: a crash leaves either the old or the new snapshot. */
  save(snapshot: Snapshot): void;
  latest(): Snapshot | undefined;
}

/** A sync that completes later: `done` hears once, with nothing or with why the writes cannot be trusted. */
export type SyncDone = (err: Error | undefined) => void;

export interface AsyncSyncable {
  /**
   * sync() without waiting: the writes are issued now, and what refuses them at once (a full
   * disk) throws here as from sync(); the flush runs elsewhere (a thread pool, a simulated disk
   * some ticks later) and `done` is called once every earlier write is durable, possibly before
   * this returns. Writes made meanwhile are not covered by it.
   */
  syncAsync(done: SyncDone): void;
}

/** A write-ahead log holding both entries and hard state, so one fsync covers both. */
export interface DurableLog extends LogStore, StableStore, Syncable, AsyncSyncable {
  close(): void;
}

export const ZERO_HARD_STATE: HardState = { term: 0, vote: 0, commit: 0 };
