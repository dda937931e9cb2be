import { Prng } from '../util/random.js';
import type { LinkState } from '../net/link-proxy.js';
import type { Recorder } from './history.js';

/**
 * The fault schedule of a run, whatever the system under test: drawn from the seed before the
 * run starts (same seed → same schedule), then played against the running system, one fault
 * at a time, each healed and followed by a wait until the system works again. Targets such as
 * "the leader of partition 1" are named in the schedule and resolved when the fault fires,
 * since who leads depends on the run.
 */
export interface PlannedFault<K extends string = string> {
  readonly seq: number;
  readonly kind: K;
  /** When to inject, from the start of the workload. */
  readonly at_ms: number;
  /** How long it lasts before it is healed. */
  readonly hold_ms: number;
  readonly partition: number;
  /** Which of the kind's possible targets (an index) when the kind does not pick one itself. */
  readonly pick: number;
  /** Partitions: cut links drop or stall traffic. */
  readonly link: Exclude<LinkState, 'pass'>;
}

export interface ScheduleOptions<K extends string> {
  readonly seed: number;
  readonly duration_ms: number;
  readonly kinds: readonly K[];
  readonly partitions: number;
  /** How many targets a fault of this kind picks among (the range of `pick`). */
  readonly targets: (kind: K) => number;
  /** Quiet time at the start (the workload warms up) and at the end (before the final heal). */
  readonly quiet_ms?: number;
}

export function planSchedule<K extends string>(options: ScheduleOptions<K>): Array<PlannedFault<K>> {
  const rng = new Prng(options.seed);
  const quiet = options.quiet_ms ?? 2_000;
  const faults: Array<PlannedFault<K>> = [];
  if (options.kinds.length === 0) return faults;
  // Every kind once in a shuffled order first, so a short run still covers all of them; then random.
  const order = [...options.kinds];
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  let at = quiet;
  for (let seq = 0; ; seq++) {
    const kind = seq < order.length ? order[seq]! : rng.pick(options.kinds);
    const hold_ms = 800 + rng.int(1_700);
    if (at + hold_ms > options.duration_ms - quiet) break;
    faults.push({
      seq,
      kind,
      at_ms: at,
      hold_ms,
      partition: rng.int(options.partitions),
      pick: rng.int(options.targets(kind)),
      link: rng.chance(0.5) ? 'drop' : 'stall',
    });
    // Time for the system to recover between faults, so each one meets a working system.
    at += hold_ms + 700 + rng.int(1_000);
  }
  return faults;
}

/** `all`, empty or a comma-separated list of kinds out of `known`. */
export function parseFaults<K extends string>(list: string | undefined, known: readonly K[]): K[] {
  if (list === undefined || list === '' || list === 'all') return [...known];
  const kinds = list.split(',').map((w) => w.trim()).filter((w) => w !== '');
  for (const k of kinds) if (!(known as readonly string[]).includes(k)) throw new Error(`unknown fault "${k}" (known: ${known.join(', ')}, or all)`);
  return kinds as K[];
}

export interface InjectedFault {
  readonly seq: number;
  readonly kind: string;
  readonly start_ms: number;
  end_ms: number;
  readonly description: string;
  readonly targets: readonly string[];
}

/** What injecting a fault did, and how to undo it. */
export interface Injection {
  readonly description: string;
  readonly targets: readonly string[];
  heal(): Promise<void>;
}

export interface PlayOptions<K extends string> {
  readonly schedule: ReadonlyArray<PlannedFault<K>>;
  readonly inject: (fault: PlannedFault<K>) => Promise<Injection>;
  /** Resolves once the system works again after a heal (leaders elected, portals live). */
  readonly recovered: () => Promise<void>;
  readonly recorder: Recorder;
  /** Recorder time at which the workload started; the schedule's times count from it. */
  readonly workloadStart_ms: number;
  readonly duration_ms: number;
  readonly say: (line: string) => void;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

/** Plays the schedule until its end or the run's; returns the faults injected. */
export async function playSchedule<K extends string>(options: PlayOptions<K>): Promise<InjectedFault[]> {
  const { recorder, say } = options;
  const injected: InjectedFault[] = [];
  let fullSaid = false;
  for (const fault of options.schedule) {
    // Recovery waits can push the schedule late: never inject past the run's end.
    if (recorder.now() - options.workloadStart_ms + fault.hold_ms > options.duration_ms) {
      say(`chaos: no time left for fault #${fault.seq} ${fault.kind} or the rest of the schedule`);
      break;
    }
    await sleep(options.workloadStart_ms + fault.at_ms - recorder.now());
    const start_ms = recorder.now();
    let done: Injection;
    try {
      done = await options.inject(fault);
    } catch (err) {
      say(`chaos: fault #${fault.seq} ${fault.kind} could not be injected: ${(err as Error).message}`);
      continue;
    }
    const record: InjectedFault = { seq: fault.seq, kind: fault.kind, start_ms, end_ms: start_ms + fault.hold_ms, description: done.description, targets: done.targets };
    injected.push(record);
    say(`chaos: [${(start_ms / 1000).toFixed(1)}s] fault #${fault.seq} ${done.description}`);
    await sleep(fault.hold_ms);
    await done.heal();
    record.end_ms = recorder.now();
    say(`chaos: [${(record.end_ms / 1000).toFixed(1)}s] healed #${fault.seq} ${fault.kind} (ops so far: ${recorder.ops.length})`);
    if (recorder.full && !fullSaid) {
      fullSaid = true;
      say(`chaos: the history holds its maximum of ${recorder.ops.length} operations: the workloads issue no more, the faults go on`);
    }
    // Restarted processes need seconds on a busy machine: the next fault waits for recovery, so
    // each fault meets a working system instead of piling onto one still starting.
    try {
      await options.recovered();
    } catch (err) {
      say(`chaos: the system did not recover after #${fault.seq}: ${(err as Error).message}`);
      break;
    }
  }
  await sleep(options.workloadStart_ms + options.duration_ms - recorder.now());
  return injected;
}
