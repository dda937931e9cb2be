import { assert } from '../../util/assert.js';

/**
 * The turns of the replicas one process hosts (each a Ready carried and a piece of the apply),
 * run one per turn of the event loop, in the order they were asked for. Until 2026-12-07 each
 * ran in a setImmediate of its own, so every turn asked for before the loop's check phase ran in
 * that one phase: a process whose two replicas were busy (the leader of one partition and a
 * follower of the other) carried both in the same turn of the loop, and its ticks and the
 * messages waiting in its sockets waited for both. One at a time, the loop reads its sockets and
 * runs its timers between any two (issue #18: measured in docs/bench.md, "One replica's turn per
 * turn of the loop").
 *
 * A turn that asks again goes after the turns already waiting, so busy replicas take turns.
 */
export class TurnQueue {
  private readonly waiting: Array<() => void> = [];
  private armed = false;

  /** `bound`: turns that may wait at once; each replica's driver asks for one turn at a time. */
  constructor(private readonly bound: number) {}

  get length(): number {
    return this.waiting.length;
  }

  soon(turn: () => void): void {
    assert(this.waiting.length < this.bound, () => `${this.waiting.length} replica turns already wait (at most ${this.bound}: one per replica)`);
    this.waiting.push(turn);
    if (this.armed) return;
    this.armed = true;
    setImmediate(this.next);
  }

  private readonly next = (): void => {
    const turn = this.waiting.shift();
    // Armed again before the turn runs: a turn that throws leaves the others to run.
    if (this.waiting.length > 0) setImmediate(this.next);
    else this.armed = false;
    turn?.();
  };
}
