// Linearizable reads by ReadIndex (Raft thesis §6.4), the leader's side: a read waits for the
// leader to have committed an entry of its term, takes the commit index as its read index, and
// is released once a quorum has acknowledged a heartbeat round started after it was scheduled.
// Rounds are numbered and acknowledgements cumulative, so one round confirms every read before it.
import { RaftError } from '../errors.js';
import type { Membership, NodeId } from '../types.js';
import { quorumValue } from './quorum.js';

/** A read the application asked for (ctx) and the answer: serve it once applied ≥ index; !ok: retry elsewhere. */
export interface ReadState {
  readonly ctx: number;
  readonly index: number;
  readonly ok: boolean;
}

export interface PendingRead {
  readonly ctx: number;
  /** -1 until the leader has committed an entry of its term. */
  index: number;
  /** The heartbeat round that confirms it; 0 until scheduled. */
  round: number;
}

export class ReadOnly {
  private pending: PendingRead[] = [];
  private round = 0;
  private inFlight = false;
  /** A read was scheduled into the round after the one in flight. */
  private wanted = false;
  /** The highest round each node has acknowledged (the leader acknowledges its own at once). */
  private readonly acks = new Map<NodeId, number>();

  constructor(private readonly maxPending: number) {}

  /** Queues a read; throws ReadQueueFull at the bound. */
  add(ctx: number): PendingRead {
    if (this.pending.length >= this.maxPending) throw new RaftError('ReadQueueFull', `${this.pending.length} reads pending`);
    const read: PendingRead = { ctx, index: -1, round: 0 };
    this.pending.push(read);
    return read;
  }

  /** Reads still waiting for the leader's first commit of its term. */
  unscheduled(): PendingRead[] {
    return this.pending.filter((r) => r.index < 0);
  }

  /** Reads at `commitIndex`, confirmed by the next round; true when that round must start now. */
  schedule(read: PendingRead, commitIndex: number): boolean {
    read.index = commitIndex;
    read.round = this.round + 1;
    this.wanted = true;
    return !this.inFlight;
  }

  /** Starts the next round, acknowledged by `self` at once; returns its number for the heartbeats. */
  startRound(self: NodeId): number {
    this.round++;
    this.inFlight = true;
    this.wanted = false;
    this.acks.set(self, this.round);
    return this.round;
  }

  /** The round heartbeats should carry now (0: none in flight). */
  get roundInFlight(): number {
    return this.inFlight ? this.round : 0;
  }

  ack(from: NodeId, round: number): void {
    // A round not started yet cannot be acknowledged: such an answer confirms nothing.
    if (round > this.round) return;
    if ((this.acks.get(from) ?? 0) < round) this.acks.set(from, round);
  }

  /**
   * Moves every read a quorum of `membership` has confirmed into `out`, oldest first; true when
   * the round in flight is done and another is wanted (start it now).
   */
  release(membership: Membership, out: ReadState[]): boolean {
    const confirmed = quorumValue(membership, (id) => this.acks.get(id) ?? 0);
    let n = 0;
    while (n < this.pending.length) {
      const r = this.pending[n]!;
      if (r.round === 0 || r.round > confirmed) break;
      out.push({ ctx: r.ctx, index: r.index, ok: true });
      n++;
    }
    if (n > 0) this.pending.splice(0, n);
    if (this.inFlight && confirmed >= this.round) {
      this.inFlight = false;
      return this.wanted;
    }
    return false;
  }

  /** A new leadership: acknowledgements of an earlier one confirm nothing now. */
  restart(): void {
    this.acks.clear();
    this.inFlight = false;
    this.wanted = false;
  }

  /** Leadership lost: every pending read fails into `out` (the application retries at the new leader). */
  failAll(out: ReadState[]): void {
    for (const r of this.pending) out.push({ ctx: r.ctx, index: 0, ok: false });
    this.pending = [];
    this.inFlight = false;
    this.wanted = false;
  }
}
