import { withClusterClient } from '../storage/client/cluster-client.js';
import type { Topology } from '../storage/common/topology.js';
import { STAGES, type EventLoopSplit, type ReplicaStatus, type Stage, type StageSummary } from '../storage/common/protocol.js';
import { touchedByPause, type MachinePause } from './machine-pauses.js';

/**
 * Whether a raft tier stayed steady during a run (issue #18): the leader changes (term increases
 * summed over partitions: each new term is an election, won or not) and the longest event-loop
 * stall any replica had during it.
 */
export interface Stability {
  readonly leaderChanges: number;
  readonly maxStall_ms: number;
  /**
   * The seconds of the measured window in which some replica's event loop was held up
   * STALL_BOUND_MS or more: how often stalls of that length come, where maxStall_ms tells only
   * the worst one (a noisy maximum: one bad second sets it).
   */
  readonly stalledSeconds: number;
  /** The same, leaving out the seconds a pause of the whole machine touched (src/bench/machine-pauses.ts). */
  readonly maxStallOutsidePauses_ms: number;
  /** The longest any follower went without a message from its leader (in the measured window, as the stall): past an election timeout, it campaigns. */
  readonly maxLeaderSilence_ms: number;
  /** The same, leaving out the seconds a pause of the whole machine touched. */
  readonly maxLeaderSilenceOutsidePauses_ms: number;
  /**
   * The longest fsync of any replica's Raft log in the measured window: writes wait for it, so
   * it bounds their latency from below (absent when no replica reports it: older builds).
   */
  readonly maxFsync_ms?: number;
  /** Why leaders stopped leading during the run, as the replicas tell it ("replica 2, term 5: ..."). */
  readonly stepDowns: string[];
  /** Whose the longest stall was, and how long its event loop ran and waited for a core in it (replicas on Linux tell it). */
  readonly maxStallSplit?: StallSplit;
}

export interface StallSplit extends EventLoopSplit {
  readonly replica: number;
}

/**
 * The longest stall issue #18 allows: a sixth of the shortest election timeout (300 ms by
 * default), the length from which a replica logs a stall.
 */
export const STALL_BOUND_MS = 50;

/** Under the 10 s window of a replica's stall report, so no stall falls between two readings. */
const STALL_READING_EVERY_MS = 5_000;

export type TermsByPartition = ReadonlyMap<number, number>;

async function statusesOf(topology: Topology): Promise<ReplicaStatus[]> {
  return (await withClusterClient(topology, (client) => client.statuses(2_000))).filter((s): s is ReplicaStatus => !('unreachable' in s));
}

/** Each partition's highest term among `statuses`. */
function termsIn(statuses: readonly ReplicaStatus[]): Map<number, number> {
  const terms = new Map<number, number>();
  for (const s of statuses) terms.set(s.partition, Math.max(terms.get(s.partition) ?? 0, s.term));
  return terms;
}

/** Each partition's highest term among the replicas that answer. */
export async function termsOf(topologies: readonly Topology[]): Promise<TermsByPartition[]> {
  return Promise.all(topologies.map(async (topology) => termsIn(await statusesOf(topology))));
}

/**
 * Watches a run's raft tiers from before it starts to its end. A replica reports its longest
 * stall, and a follower its longest silence from its leader, in each of its last 30 wall-clock
 * seconds, so the watch reads every replica every few
 * seconds and keeps the longest of the seconds in the measured window (from `measuring()` to
 * `finish()`): a stall early in a long run counts as much as one at its end, and one in the
 * warm-up (cold code, connections opening, the first snapshot) does not count at all. A replica
 * of an older build reports only its longest stall over its last 10–20 s, which is taken as is.
 */
export class StabilityWatch {
  /** The longest stall of any replica in each second of the measured window (epoch second → ms). */
  private readonly stallSeconds = new Map<number, number>();
  /** The longest leader silence any follower had in each second of the measured window, likewise. */
  private readonly silenceSeconds = new Map<number, number>();
  /** The longest log fsync any replica had in each second of the measured window, likewise. */
  private readonly fsyncSeconds = new Map<number, number>();
  /** What made up each second's longest stall, where its replica told it. */
  private readonly stallSplits = new Map<number, StallSplit>();
  /** From replicas of an older build, which report no seconds: counted whatever the pauses. */
  private stallLately_ms = 0;
  private silenceLately_ms = 0;
  /** Whether any replica reported its fsyncs by second (older builds do not). */
  private fsyncReported = false;
  /** When the measured window began (epoch ms); until then no second counts. */
  private measuredFrom_ms: number | undefined;
  private measuredUntil_ms = Infinity;
  private readonly timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> = Promise.resolve();

  private constructor(
    private readonly topologies: readonly Topology[],
    private readonly before: readonly TermsByPartition[],
  ) {
    if (topologies.length > 0) this.timer = setInterval(() => void this.readStalls(), STALL_READING_EVERY_MS).unref();
  }

  static async start(topologies: readonly Topology[]): Promise<StabilityWatch> {
    return new StabilityWatch(topologies, await termsOf(topologies));
  }

  /** The measured window begins now (the warm-up is over). */
  measuring(): void {
    this.measuredFrom_ms ??= Date.now();
  }

  /** Stops watching; undefined when no raft tier is involved. `pauses`: the machine's, during the run. */
  async finish(pauses: readonly MachinePause[] = []): Promise<Stability | undefined> {
    clearInterval(this.timer);
    this.measuredUntil_ms = Date.now();
    // A run that never said when it began measuring counts from here back, as the replicas' windows do.
    this.measuredFrom_ms ??= -Infinity;
    await this.reading;
    if (this.topologies.length === 0) return undefined;
    let leaderChanges = 0;
    const stepDowns: string[] = [];
    for (const [i, topology] of this.topologies.entries()) {
      const statuses = await statusesOf(topology);
      this.noteStalls(statuses);
      for (const [partition, term] of termsIn(statuses)) leaderChanges += Math.max(0, term - (this.before[i]?.get(partition) ?? term));
      for (const s of statuses) {
        if ((s.lastStepDownTerm ?? -1) >= (this.before[i]?.get(s.partition) ?? Infinity)) stepDowns.push(`replica ${s.id}, ${s.lastStepDown ?? ''}`);
      }
    }
    const stalls = longestOutsidePauses(this.stallSeconds, this.stallLately_ms, pauses);
    const silences = longestOutsidePauses(this.silenceSeconds, this.silenceLately_ms, pauses);
    const longestSecond = [...this.stallSeconds].find(([, ms]) => ms === stalls.max_ms)?.[0];
    const split = longestSecond === undefined ? undefined : this.stallSplits.get(longestSecond);
    return {
      leaderChanges,
      maxStall_ms: stalls.max_ms,
      stalledSeconds: secondsAtLeast(this.stallSeconds, STALL_BOUND_MS),
      ...(split === undefined ? {} : { maxStallSplit: split }),
      maxStallOutsidePauses_ms: stalls.outsidePauses_ms,
      maxLeaderSilence_ms: silences.max_ms,
      maxLeaderSilenceOutsidePauses_ms: silences.outsidePauses_ms,
      ...(this.fsyncReported ? { maxFsync_ms: Math.max(0, ...this.fsyncSeconds.values()) } : {}),
      stepDowns,
    };
  }

  private readStalls(): void {
    this.reading = this.reading
      .then(async () => {
        for (const topology of this.topologies) this.noteStalls(await statusesOf(topology));
      })
      // A replica that does not answer now is read again at the next reading, or at the end.
      .catch(() => undefined);
  }

  private noteStalls(statuses: readonly ReplicaStatus[]): void {
    if (this.measuredFrom_ms === undefined) return;
    for (const s of statuses) {
      const noteSplit = (second: number, loop: EventLoopSplit | undefined) => {
        if (loop === undefined) this.stallSplits.delete(second);
        else this.stallSplits.set(second, { replica: s.id, ...loop });
      };
      this.stallLately_ms = Math.max(this.stallLately_ms, this.noteSeconds(this.stallSeconds, s.stallsBySecond, s.maxStall_ms, noteSplit));
      this.silenceLately_ms = Math.max(this.silenceLately_ms, this.noteSeconds(this.silenceSeconds, s.leaderSilenceBySecond, s.maxLeaderSilence_ms));
      if (Array.isArray(s.fsyncBySecond)) {
        this.fsyncReported = true;
        this.noteSeconds(this.fsyncSeconds, s.fsyncBySecond, undefined);
      }
    }
  }

  /**
   * Keeps the longest figure of each second of the measured window a replica reports; a replica of
   * an older build reports only its rolling window's longest, which is returned to count as is.
   */
  private noteSeconds(into: Map<number, number>, bySecond: readonly unknown[] | undefined, lately_ms: number | undefined, onLongest?: (second: number, loop: EventLoopSplit | undefined) => void): number {
    if (!Array.isArray(bySecond)) return lately_ms ?? 0;
    for (const [second, ms, loop] of secondsIn(bySecond, this.measuredFrom_ms ?? Infinity, this.measuredUntil_ms)) {
      const before = into.get(second);
      if (before !== undefined && before >= ms) continue;
      into.set(second, ms);
      onLongest?.(second, loop);
    }
    return 0;
  }
}

/**
 * The longest figure (a stall, a leader silence) of the seconds (epoch second → ms), and the
 * longest of those no machine pause touched; `lately_ms` (older replicas, no seconds) counts in both.
 */
export function longestOutsidePauses(seconds: ReadonlyMap<number, number>, lately_ms: number, pauses: readonly MachinePause[]): { max_ms: number; outsidePauses_ms: number } {
  let [max_ms, outsidePauses_ms] = [lately_ms, lately_ms];
  for (const [second, ms] of seconds) {
    max_ms = Math.max(max_ms, ms);
    if (!touchedByPause(second, pauses)) outsidePauses_ms = Math.max(outsidePauses_ms, ms);
  }
  return { max_ms, outsidePauses_ms };
}

/** How many of the seconds (epoch second → ms) reach `bound_ms`. */
export function secondsAtLeast(seconds: ReadonlyMap<number, number>, bound_ms: number): number {
  let count = 0;
  for (const ms of seconds.values()) if (ms >= bound_ms) count++;
  return count;
}

/**
 * The [epoch second, ms] pairs of a replica's per-second figures in the window [from, until]
 * (epoch ms), with the event loop's split of a stall where the replica gave it ([second, ms,
 * running, waiting]). A stall or a silence is noted in the second it ended, so one that ended
 * inside the window counts whole; anything not a pair of numbers (the status came over a port) is
 * passed over, and a split that is not two more numbers is left out.
 */
export function secondsIn(seconds: readonly unknown[], from_ms: number, until_ms: number): Array<[number, number, EventLoopSplit | undefined]> {
  const out: Array<[number, number, EventLoopSplit | undefined]> = [];
  for (const pair of seconds) {
    const [second, stall_ms, running_ms, waitingForCpu_ms] = Array.isArray(pair) ? (pair as unknown[]) : [];
    if (typeof second !== 'number' || typeof stall_ms !== 'number' || !Number.isFinite(stall_ms)) continue;
    const split = typeof running_ms === 'number' && typeof waitingForCpu_ms === 'number' && Number.isFinite(running_ms) && Number.isFinite(waitingForCpu_ms) ? { running_ms, waitingForCpu_ms } : undefined;
    if ((second + 1) * 1000 > from_ms && second * 1000 <= until_ms) out.push([second, stall_ms, split]);
  }
  return out;
}

/** The stage percentiles of the writes each partition's leader handled since the last reading. */
export async function stageTraces(topologies: readonly Topology[]): Promise<Array<{ partition: number; replica: number; stages: Record<Stage, StageSummary> }>> {
  const out: Array<{ partition: number; replica: number; stages: Record<Stage, StageSummary> }> = [];
  for (const topology of topologies) {
    for (const t of await withClusterClient(topology, (client) => client.traces(2_000))) {
      const stages = t.stages as Record<Stage, StageSummary>;
      if (stages.total.count > 0) out.push({ partition: t.partition, replica: t.id, stages });
    }
  }
  return out.sort((a, b) => a.partition - b.partition);
}

export function describeTrace(trace: Awaited<ReturnType<typeof stageTraces>>): string[] {
  return trace.map(({ partition, replica, stages }) => {
    // A replica of an older build answers without the stages it did not time.
    const parts = STAGES.flatMap((s) => (stages[s] === undefined ? [] : [`${s} p50 ${stages[s].p50_ms} / p99 ${stages[s].p99_ms} ms`]));
    return `  trace, partition ${partition} (leader ${replica}, ${stages.total.count} writes): ${parts.join('; ')}`;
  });
}
