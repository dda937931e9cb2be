// Linearizable reads through ReadIndex: the reads of one turn share one round, and a confirmed
// round waits until the state machine has applied up to its index.
import { RaftError, type RaftNode, type ReadState } from '../core/index.js';
import type { ReadOutcome } from './interfaces.js';

export type ReadWaiter = (outcome: ReadOutcome) => void;

const LOST_LEADERSHIP: ReadOutcome = { ok: false };

export class ReadRounds {
  /** Reads waiting for the next round, batched: one round serves every read of a turn. */
  private batch: ReadWaiter[] = [];
  private readonly rounds = new Map<number, ReadWaiter[]>();
  /** Confirmed reads waiting for the state machine to reach their index, in the order confirmed. */
  private awaitingApply: Array<{ index: number; reads: ReadWaiter[] }> = [];
  private nextCtx = 1;

  constructor(private readonly node: RaftNode) {}

  add(read: ReadWaiter): void {
    this.batch.push(read);
  }

  /** Starts one ReadIndex round for the reads batched since the last. */
  startRound(): void {
    if (this.batch.length === 0) return;
    const batch = this.batch;
    this.batch = [];
    const ctx = this.nextCtx++;
    try {
      this.node.readIndex(ctx);
      this.rounds.set(ctx, batch);
    } catch (err) {
      if (!(err instanceof RaftError)) throw err;
      const outcome: ReadOutcome = { ok: false, refusal: err };
      for (const read of batch) read(outcome);
    }
  }

  /** The core's answers to rounds: a confirmed round is served now or once applied reaches it. */
  confirmed(readStates: readonly ReadState[], applied: number): void {
    for (const rs of readStates) {
      const reads = this.rounds.get(rs.ctx);
      if (reads === undefined) continue;
      this.rounds.delete(rs.ctx);
      if (!rs.ok) settle(reads, LOST_LEADERSHIP);
      else if (applied >= rs.index) settle(reads, { ok: true });
      else this.awaitingApply.push({ index: rs.index, reads });
    }
  }

  /** The state machine has applied up to `applied`: serve the reads that waited for it. */
  applied(applied: number): void {
    if (this.awaitingApply.length === 0) return;
    const ready = this.awaitingApply.filter((w) => w.index <= applied);
    if (ready.length === 0) return;
    this.awaitingApply = this.awaitingApply.filter((w) => w.index > applied);
    for (const w of ready) settle(w.reads, { ok: true });
  }

  /** Leadership was lost: nothing waiting can be confirmed any more; callers retry elsewhere. */
  failAll(): void {
    for (const reads of this.rounds.values()) settle(reads, LOST_LEADERSHIP);
    this.rounds.clear();
    for (const w of this.awaitingApply) settle(w.reads, LOST_LEADERSHIP);
    this.awaitingApply = [];
  }
}

function settle(reads: readonly ReadWaiter[], outcome: ReadOutcome): void {
  for (const read of reads) read(outcome);
}
