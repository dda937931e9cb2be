// Committed entries the core has handed out that the state machine has not applied yet. The
// driver applies them in pieces, each in its own turn of the event loop, so that one Ready's
// apply does not hold back ticks, heartbeats and votes (issue #18): the core counts an entry as
// applied once handed out, and it stays committed and in the log until applied here (a crash
// replays it from the state machine's own applied index).
import type { Entry } from '../types.js';
import { assert } from '../../util/assert.js';

export class ApplyBacklog {
  private entries: Entry[] = [];
  /** Where the next entry to apply is in `entries` (shifting each piece off would copy the rest). */
  private head = 0;
  /** Index of the last entry ever taken in: entries at or below it are not taken again. */
  private last: number;

  constructor(applied: number) {
    this.last = applied;
  }

  get length(): number {
    return this.entries.length - this.head;
  }

  /**
   * Takes in committed entries, in order; those taken in already are skipped, so a Ready carried
   * again after a disk fault adds nothing twice.
   */
  add(committed: readonly Entry[]): void {
    for (const e of committed) {
      if (e.index <= this.last) continue;
      assert(e.index === this.last + 1, () => `committed entry ${e.index} handed out after ${this.last}`);
      this.entries.push(e);
      this.last = e.index;
    }
  }

  /** The next `count` entries (fewer if there are fewer), still held until drop(). */
  peek(count: number): readonly Entry[] {
    return this.entries.slice(this.head, this.head + count);
  }

  /** The state machine applied the first `count` entries. */
  drop(count: number): void {
    assert(count <= this.length, () => `dropping ${count} of ${this.length} entries`);
    this.head += count;
    if (this.head === this.entries.length) {
      this.entries = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }

  /** A snapshot replaced the state at `index`: what it covers is never applied. */
  skipTo(index: number): void {
    while (this.length > 0 && this.entries[this.head]!.index <= index) this.drop(1);
    if (index > this.last) this.last = index;
  }
}
