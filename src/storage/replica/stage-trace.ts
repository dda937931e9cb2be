import { STAGES, type Stage, type StageSummary } from '../common/protocol.js';
import { defined } from '../../util/assert.js';

/** Samples kept per stage between two readings; later ones wait for the next window. */
const MAX_SAMPLES = 200_000;

interface Timeline {
  readonly arrived: number;
  writing?: number;
  persisted?: number;
  committed?: number;
}

/**
 * Proposals still waiting for a moment of the log (their entry being written, being durable),
 * oldest first: proposals get increasing indexes, and the log reaches them in that order.
 */
class Waiting {
  private indexes: number[] = [];
  private head = 0;

  add(index: number): void {
    this.indexes.push(index);
  }

  /** Takes every index up to `lastIndex`, oldest first. */
  *upTo(lastIndex: number): Generator<number> {
    while (this.head < this.indexes.length && this.indexes[this.head]! <= lastIndex) yield this.indexes[this.head++]!;
    if (this.head > 1_024 && this.head * 2 > this.indexes.length) {
      this.indexes = this.indexes.slice(this.head);
      this.head = 0;
    }
  }

  clear(): void {
    this.indexes = [];
    this.head = 0;
  }
}

/**
 * Where a write's time goes inside its partition's leader (issue #12): for each proposal, the
 * time from its arrival to its entry being written to the leader's own log (`queued`: waiting
 * for the Ready loop, or for the fsync of an earlier Ready), then to that write being durable
 * (`fsync`: the append and the fdatasync's round trip through the thread pool; the two make
 * `leaderPersist`), then to its commit (the followers' append, fsync and the round trip of
 * their acknowledgement), then to its application and the answer. `ecom bench run --trace`
 * prints the percentiles of each stage per run.
 */
export class StageTrace {
  private readonly open = new Map<number, Timeline>();
  private readonly unwritten = new Waiting();
  private readonly unpersisted = new Waiting();
  private readonly samples = new Map<Stage, number[]>(STAGES.map((s) => [s, []]));

  arrived(index: number, now = performance.now()): void {
    this.open.set(index, { arrived: now });
    this.unwritten.add(index);
    this.unpersisted.add(index);
  }

  /** Entries up to `lastIndex` are being written to the leader's log. */
  writing(lastIndex: number, now = performance.now()): void {
    for (const index of this.unwritten.upTo(lastIndex)) {
      const t = this.open.get(index);
      if (t !== undefined) t.writing = now;
    }
  }

  /** Entries up to `lastIndex` are durable in the leader's log. */
  persisted(lastIndex: number, now = performance.now()): void {
    for (const index of this.unpersisted.upTo(lastIndex)) {
      const t = this.open.get(index);
      if (t !== undefined) t.persisted = now;
    }
  }

  committed(index: number, now = performance.now()): void {
    const t = this.open.get(index);
    if (t !== undefined) t.committed = now;
  }

  applied(index: number, now = performance.now()): void {
    const t = this.open.get(index);
    if (t === undefined) return;
    this.open.delete(index);
    const persisted = t.persisted ?? t.committed ?? now;
    const writing = Math.min(t.writing ?? persisted, persisted);
    const committed = t.committed ?? now;
    this.add('queued', writing - t.arrived);
    this.add('fsync', persisted - writing);
    this.add('leaderPersist', persisted - t.arrived);
    this.add('replicate', Math.max(0, committed - persisted));
    this.add('apply', now - committed);
    this.add('total', now - t.arrived);
  }

  /** A proposal that will not be applied here (leadership lost): forget it. */
  dropAll(): void {
    this.open.clear();
    this.unwritten.clear();
    this.unpersisted.clear();
  }

  /** Percentiles of every stage since the last reading, which starts a new window. */
  read(): Record<Stage, StageSummary> {
    const out = {} as Record<Stage, StageSummary>;
    for (const stage of STAGES) {
      const values = defined(this.samples.get(stage), stage).sort((a, b) => a - b);
      const at = (q: number) => (values.length === 0 ? 0 : Math.round(values[Math.min(values.length - 1, Math.floor(q * values.length))]! * 1000) / 1000);
      out[stage] = { count: values.length, p50_ms: at(0.5), p90_ms: at(0.9), p99_ms: at(0.99), max_ms: at(1) };
      this.samples.set(stage, []);
    }
    return out;
  }

  private add(stage: Stage, ms: number): void {
    const values = defined(this.samples.get(stage), stage);
    if (values.length < MAX_SAMPLES) values.push(ms);
  }
}
