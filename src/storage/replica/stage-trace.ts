import { STAGES, type Stage, type StageSummary } from '../common/protocol.js';
import { defined } from '../../util/assert.js';

/** Samples kept per stage between two readings; later ones wait for the next window. */
const MAX_SAMPLES = 200_000;

interface Timeline {
  readonly arrived: number;
  persisted?: number;
  committed?: number;
}

/**
 * Where a write's time goes inside its partition's leader (issue #12): for each proposal, the
 * time from its arrival to its entry being durable in the leader's own log (waiting for the
 * Ready loop, appending, fdatasync), then to its commit (the followers' append, fsync and the
 * round trip of their acknowledgement), then to its application and the answer. `ecom bench
 * run --trace` prints the percentiles of each stage per run.
 */
export class StageTrace {
  private readonly open = new Map<number, Timeline>();
  /** Indexes not yet durable at the leader, oldest first (proposals get increasing indexes). */
  private unpersisted: number[] = [];
  private unpersistedHead = 0;
  private readonly samples = new Map<Stage, number[]>(STAGES.map((s) => [s, []]));

  arrived(index: number, now = performance.now()): void {
    this.open.set(index, { arrived: now });
    this.unpersisted.push(index);
  }

  /** Entries up to `lastIndex` are durable in the leader's log. */
  persisted(lastIndex: number, now = performance.now()): void {
    while (this.unpersistedHead < this.unpersisted.length && this.unpersisted[this.unpersistedHead]! <= lastIndex) {
      const t = this.open.get(this.unpersisted[this.unpersistedHead++]!);
      if (t !== undefined) t.persisted = now;
    }
    if (this.unpersistedHead > 1_024 && this.unpersistedHead * 2 > this.unpersisted.length) {
      this.unpersisted = this.unpersisted.slice(this.unpersistedHead);
      this.unpersistedHead = 0;
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
    const committed = t.committed ?? now;
    this.add('leaderPersist', persisted - t.arrived);
    this.add('replicate', Math.max(0, committed - persisted));
    this.add('apply', now - committed);
    this.add('total', now - t.arrived);
  }

  /** A proposal that will not be applied here (leadership lost): forget it. */
  dropAll(): void {
    this.open.clear();
    this.unpersisted = [];
    this.unpersistedHead = 0;
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
