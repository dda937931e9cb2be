// In-memory stores with real crash semantics, for the simulator and tests: writes are buffered
// until sync(); a crash keeps only a prefix of the unsynced writes (the last one possibly torn,
// which recovery discards like the file log discards a torn tail).
import type { Entry, HardState, Snapshot } from '../types.js';
import type { DurableLog, SnapshotStore, SyncDone } from './interfaces.js';
import { ZERO_HARD_STATE } from './interfaces.js';
import { assert } from '../../util/assert.js';

type LogOp =
  | { kind: 'append'; entries: readonly Entry[] }
  | { kind: 'compact'; index: number }
  | { kind: 'reset'; index: number }
  | { kind: 'hardState'; hs: HardState };

class LogImage {
  compacted = 0;
  entries: Entry[] = [];
  hs: HardState = ZERO_HARD_STATE;

  clone(): LogImage {
    const c = new LogImage();
    c.compacted = this.compacted;
    c.entries = this.entries.slice();
    c.hs = this.hs;
    return c;
  }

  lastIndex(): number {
    return this.compacted + this.entries.length;
  }

  apply(op: LogOp): void {
    switch (op.kind) {
      case 'append': {
        const first = op.entries[0];
        if (!first) return;
        assert(first.index > this.compacted, `append at ${first.index} into compacted prefix ${this.compacted}`);
        assert(first.index <= this.lastIndex() + 1, `append at ${first.index} leaves a gap after ${this.lastIndex()}`);
        this.entries.length = first.index - this.compacted - 1;
        for (const e of op.entries) this.entries.push(e);
        return;
      }
      case 'compact':
        if (op.index <= this.compacted) return;
        this.entries = this.entries.slice(Math.min(op.index - this.compacted, this.entries.length));
        this.compacted = op.index;
        return;
      case 'reset':
        this.entries = [];
        this.compacted = op.index;
        return;
      case 'hardState':
        this.hs = op.hs;
        return;
    }
  }
}

export class MemoryLog implements DurableLog {
  private durable = new LogImage();
  private current = new LogImage();
  private unsynced: LogOp[] = [];
  /** Writes issued since the log was made, and how many of them are durable. */
  private issued = 0;
  private synced = 0;
  syncs = 0;

  firstIndex(): number {
    return this.current.compacted + 1;
  }
  lastIndex(): number {
    return this.current.lastIndex();
  }
  entries(lo: number, hi: number): Entry[] {
    assert(lo > this.current.compacted && hi <= this.lastIndex(), `entries [${lo}, ${hi}] not retained`);
    return this.current.entries.slice(lo - this.current.compacted - 1, hi - this.current.compacted);
  }
  append(entries: readonly Entry[]): void {
    this.record({ kind: 'append', entries: entries.slice() });
  }
  compact(index: number): void {
    // Compaction only forgets data a durable snapshot already covers, so it needs no sync.
    this.record({ kind: 'compact', index });
  }
  resetTo(index: number): void {
    this.record({ kind: 'reset', index });
  }
  hardState(): HardState {
    return this.current.hs;
  }
  setHardState(hs: HardState): void {
    this.record({ kind: 'hardState', hs });
  }
  sync(): void {
    this.syncThrough(this.issued);
  }
  /** Durable at once; the simulator's disk finishes later. */
  syncAsync(done: SyncDone): void {
    this.sync();
    done(undefined);
  }
  close(): void {}

  /**
   * Power loss: each unsynced write may or may not have reached the disk, in order; the last one
   * that did may be torn, and a torn record is dropped on recovery — so a prefix survives.
   */
  crash(surviving_ops: number): void {
    const keep = Math.min(surviving_ops, this.unsynced.length);
    for (let i = 0; i < keep; i++) this.durable.apply(this.unsynced[i]!);
    this.unsynced = [];
    this.synced = this.issued;
    this.current = this.durable.clone();
  }

  unsyncedCount(): number {
    return this.unsynced.length;
  }

  /** How many writes were issued so far: a sync asked for now covers this many. */
  issuedCount(): number {
    return this.issued;
  }

  /** Makes the writes up to the `through`-th issued durable, not those issued after (a sync that started before them). */
  protected syncThrough(through: number): void {
    const n = Math.min(Math.max(through - this.synced, 0), this.unsynced.length);
    for (let i = 0; i < n; i++) this.durable.apply(this.unsynced[i]!);
    this.unsynced.splice(0, n);
    this.synced += n;
    this.syncs++;
  }

  private record(op: LogOp): void {
    this.current.apply(op);
    this.unsynced.push(op);
    this.issued++;
  }
}

export class MemorySnapshotStore implements SnapshotStore {
  private snap: Snapshot | undefined;
  save(snapshot: Snapshot): void {
    this.snap = snapshot;
  }
  latest(): Snapshot | undefined {
    return this.snap;
  }
}
