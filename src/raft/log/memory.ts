// In-memory stores with real crash semantics, for the simulator and tests: writes are buffered
// until sync(); a crash keeps only a prefix of the unsynced writes (the last one possibly torn,
// which recovery discards like the file log discards a torn tail).
import type { Entry, HardState, Snapshot } from '../types.js';
import type { DurableLog, SnapshotStore } from './interfaces.js';
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
    for (const op of this.unsynced) this.durable.apply(op);
    this.unsynced = [];
    this.syncs++;
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
    this.current = this.durable.clone();
  }

  unsyncedCount(): number {
    return this.unsynced.length;
  }

  private record(op: LogOp): void {
    this.current.apply(op);
    this.unsynced.push(op);
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
