// The core's in-memory view of the log: entries after the last snapshot, plus which prefix is durable.
import type { Entry } from '../types.js';
import { assert, defined } from '../../util/assert.js';

export class RaftLog {
  /** Index and term of the last entry covered by the snapshot (0/0 when none). */
  private snapIndex: number;
  private snapTerm: number;
  private entries: Entry[];
  /** Entries up to this index are known to be on stable storage. */
  stableIndex: number;

  constructor(snapIndex: number, snapTerm: number, entries: Entry[]) {
    this.snapIndex = snapIndex;
    this.snapTerm = snapTerm;
    this.entries = entries.slice();
    for (let i = 0; i < this.entries.length; i++) {
      assert(this.entries[i]!.index === snapIndex + 1 + i, 'restored entries must be contiguous after the snapshot');
    }
    this.stableIndex = this.lastIndex();
  }

  firstIndex(): number {
    return this.snapIndex + 1;
  }

  lastIndex(): number {
    return this.snapIndex + this.entries.length;
  }

  snapshotIndex(): number {
    return this.snapIndex;
  }

  lastTerm(): number {
    return defined(this.term(this.lastIndex()), 'term of the last entry');
  }

  /** Term at index, or undefined when the index is compacted away or beyond the end. */
  term(index: number): number | undefined {
    if (index === this.snapIndex) return this.snapTerm;
    if (index < this.snapIndex || index > this.lastIndex()) return undefined;
    return this.entries[index - this.snapIndex - 1]!.term;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  entry(index: number): Entry {
    const e = this.entries[index - this.snapIndex - 1];
    assert(e !== undefined && e.index === index, () => `entry ${index} not in memory`);
    return e;
  }

  /** Entries [lo, hi] capped by count and bytes, always at least one entry when lo ≤ hi. */
  slice(lo: number, hi: number, max_count: number, max_bytes: number): Entry[] {
    assert(lo > this.snapIndex, () => `slice from ${lo} reaches into the snapshot at ${this.snapIndex}`);
    const end = Math.min(hi, this.lastIndex(), lo + max_count - 1);
    const out: Entry[] = [];
    let size_bytes = 0;
    for (let i = lo; i <= end; i++) {
      const e = this.entries[i - this.snapIndex - 1]!;
      size_bytes += e.data.length;
      if (out.length > 0 && size_bytes > max_bytes) break;
      out.push(e);
    }
    return out;
  }

  append(e: Entry): void {
    assert(e.index === this.lastIndex() + 1, () => `append at ${e.index} after last ${this.lastIndex()}`);
    this.entries.push(e);
  }

  /**
   * Follower side of AppendEntries: skip entries already present, cut the log at the first term
   * conflict and append the rest (Figure 2, AppendEntries rules 3 and 4). Returns the first
   * index that was overwritten, or 0 when nothing was.
   */
  mergeFrom(entries: readonly Entry[], commitIndex: number): number {
    let truncatedAt = 0;
    for (const e of entries) {
      const existing = this.term(e.index);
      if (existing === e.term) continue;
      if (e.index <= this.snapIndex) continue; // covered by our snapshot: necessarily committed and equal
      if (existing !== undefined) {
        assert(e.index > commitIndex, () => `would overwrite committed entry ${e.index} (commit ${commitIndex})`);
        this.entries.length = e.index - this.snapIndex - 1;
        if (this.stableIndex >= e.index) this.stableIndex = e.index - 1;
        if (truncatedAt === 0) truncatedAt = e.index;
      }
      assert(e.index === this.lastIndex() + 1, () => `gap appending ${e.index} after ${this.lastIndex()}`);
      this.entries.push(e);
    }
    return truncatedAt;
  }

  /** Drops entries up to and including index (they are covered by a snapshot). */
  compact(index: number, term: number): void {
    assert(index >= this.snapIndex, 'compaction must move forward');
    if (index <= this.lastIndex()) {
      assert(this.term(index) === term, 'compaction term must match the log');
      this.entries = this.entries.slice(index - this.snapIndex);
    } else {
      this.entries = [];
    }
    this.snapIndex = index;
    this.snapTerm = term;
    if (this.stableIndex < index) this.stableIndex = index;
  }

  /** Replaces the whole log by a snapshot's position (InstallSnapshot on a follower). */
  restore(index: number, term: number): void {
    this.entries = [];
    this.snapIndex = index;
    this.snapTerm = term;
    this.stableIndex = index;
  }

  /** Entries not yet handed to stable storage. */
  unstable(): Entry[] {
    if (this.stableIndex >= this.lastIndex()) return [];
    return this.entries.slice(this.stableIndex - this.snapIndex);
  }

  /** Index of the first entry of the term containing `index`, scanning back no further than the snapshot. */
  firstIndexOfTerm(index: number): number {
    const term = this.term(index);
    let i = index;
    while (i - 1 > this.snapIndex && this.term(i - 1) === term) i--;
    return i;
  }

  /** Last index whose term is ≤ term, or 0 if none in memory. */
  lastIndexWithTermAtMost(term: number, from: number): number {
    let i = Math.min(from, this.lastIndex());
    while (i > this.snapIndex && defined(this.term(i), 'term of an entry after the snapshot') > term) i--;
    return i;
  }

  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }
}
