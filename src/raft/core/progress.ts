// The leader's view of one peer: how far its log matches, and how much is in flight to it.
import { assert } from '../../util/assert.js';

/**
 * probe: we don't know where the peer's log ends; send one append per heartbeat until it answers.
 * replicate: the peer is in sync; stream appends optimistically, bounded by the inflight window.
 * snapshot: a snapshot is on its way; send nothing else until it is acknowledged.
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** A bounded window of unacknowledged append messages (by last index and payload size). */
export class Inflights {
  private readonly lastIndexes: number[] = [];
  private readonly sizes: number[] = [];
  private head = 0;
  private bytes = 0;
  constructor(
    readonly max_msgs: number,
    readonly max_bytes: number,
  ) {}

  count(): number {
    return this.lastIndexes.length - this.head;
  }

  full(): boolean {
    return this.count() >= this.max_msgs || this.bytes >= this.max_bytes;
  }

  add(lastIndex: number, size_bytes: number): void {
    assert(!this.full(), 'inflight window overflow');
    this.lastIndexes.push(lastIndex);
    this.sizes.push(size_bytes);
    this.bytes += size_bytes;
  }

  /** Acknowledges every message whose entries end at or before index. */
  freeTo(index: number): void {
    while (this.head < this.lastIndexes.length && this.lastIndexes[this.head]! <= index) {
      this.bytes -= this.sizes[this.head]!;
      this.head++;
    }
    if (this.head > 64 && this.head * 2 > this.lastIndexes.length) {
      this.lastIndexes.splice(0, this.head);
      this.sizes.splice(0, this.head);
      this.head = 0;
    }
  }

  freeFirst(): void {
    if (this.count() > 0) this.freeTo(this.lastIndexes[this.head]!);
  }

  reset(): void {
    this.lastIndexes.length = 0;
    this.sizes.length = 0;
    this.head = 0;
    this.bytes = 0;
  }
}

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In probe state: an append is outstanding, wait for its answer or the next heartbeat. */
  probeSent = false;
  pendingSnapshot = 0;
  /** Ticks spent in snapshot state; a lost snapshot is retried after an election timeout. */
  snapshotElapsed_ticks = 0;
  /** The leader's tick count when this peer last answered (CheckQuorum). */
  lastHeard_ticks = 0;
  /** Set while the peer's refusals say its log ends below `match`, at `end` (`seen` of them in a row): it lost entries it had acknowledged. */
  lostLog: { readonly end: number; readonly seen: number } | undefined;
  isLearner: boolean;
  readonly inflights: Inflights;

  constructor(next: number, isLearner: boolean, max_inflight_msgs: number, max_inflight_bytes: number) {
    this.next = next;
    this.isLearner = isLearner;
    this.inflights = new Inflights(max_inflight_msgs, max_inflight_bytes);
  }

  becomeProbe(): void {
    // After a snapshot the peer has at least the snapshot's index.
    const from = this.state === 'snapshot' ? Math.max(this.match + 1, this.pendingSnapshot + 1) : this.match + 1;
    this.state = 'probe';
    this.next = from;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.inflights.reset();
  }

  becomeReplicate(): void {
    this.state = 'replicate';
    this.next = this.match + 1;
    this.probeSent = false;
    this.inflights.reset();
  }

  becomeSnapshot(index: number): void {
    this.state = 'snapshot';
    this.pendingSnapshot = index;
    this.snapshotElapsed_ticks = 0;
    this.probeSent = false;
    this.inflights.reset();
  }

  /** Records a successful append acknowledgement; returns false when it carries no news. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (index > this.match) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    if (this.next < index + 1) this.next = index + 1;
    return updated;
  }

  /**
   * Handles a rejection of the append whose previous index was `rejected`. Returns false when the
   * rejection is stale (answers an older message) and must be ignored.
   */
  maybeDecrease(rejected: number, hintNext: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = Math.max(this.match + 1, Math.min(hintNext, rejected));
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(this.match + 1, Math.min(hintNext, rejected));
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }
}
