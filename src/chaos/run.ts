import { Recorder, type Violation } from './history.js';
import { finishRun, runFolder, type ChaosResult } from './result.js';
import { planSchedule, playSchedule, type InjectedFault, type Injection, type PlannedFault } from './schedule.js';
import type { Crash } from '../util/process-group.js';

/**
 * One chaos run, whatever the system under test: start it in a folder, drive its workloads,
 * inject the seed's fault schedule, stop the workloads, heal, check, and write the history, the
 * logs and the report into the folder. What differs between modes is the ChaosSystem.
 */
export interface ChaosSystem<K extends string> {
  /** Processes that exited on their own so far. */
  readonly crashes: readonly Crash[];
  /** Starts every process and creates the data the workloads need; says what is up. */
  start(say: (line: string) => void): Promise<void>;
  /** Partitions of the data and, for each kind of fault, how many targets it picks among. */
  readonly shape: { readonly partitions: number; targets(kind: K): number };
  inject(fault: PlannedFault<K>): Promise<Injection>;
  /** Resolves once the system works again after a heal. */
  recovered(): Promise<void>;
  /** Runs the workloads until `running()` turns false. */
  workloads(recorder: Recorder, running: () => boolean): Promise<void>;
  /**
   * With the workloads stopped: checks the history, heals everything, waits for the system to
   * settle and checks its final state. Counts go into `checked` and findings into `violations` as
   * they come, so a failure half-way still reports what was checked.
   */
  check(recorder: Recorder, checked: Record<string, number>, violations: Violation[], say: (line: string) => void): Promise<void>;
  stop(): Promise<void>;
}

export interface RunOptions<K extends string> {
  readonly seed: number;
  readonly duration_s: number;
  readonly faults: readonly K[];
  /** Where to keep everything; a new temporary folder by default. */
  readonly out?: string;
  readonly progress?: (line: string) => void;
  /** Extra words for the first progress line, e.g. the planted bugs. */
  readonly about?: string;
  readonly replay: string;
}

/** Runs the system `build` makes in the run's folder. */
export async function runChaos<K extends string>(mode: ChaosResult['mode'], build: (folder: string) => Promise<ChaosSystem<K>>, options: RunOptions<K>): Promise<ChaosResult> {
  const say = options.progress ?? ((line: string) => process.stdout.write(`${line}\n`));
  const started = Date.now();
  const folder = runFolder(mode, options.seed, options.out);
  say(`chaos: ${mode} mode, seed ${options.seed}, ${options.duration_s} s, faults ${options.faults.join(',') || 'none'}${options.about ? `, ${options.about}` : ''}`);
  say(`chaos: everything is kept in ${folder}`);
  const system = await build(folder);
  let recorder = new Recorder();
  let injected: InjectedFault[] = [];
  const violations: Violation[] = [];
  const checked: Record<string, number> = {};
  try {
    await system.start(say);
    const schedule = planSchedule({ seed: options.seed, duration_ms: options.duration_s * 1_000, kinds: options.faults, partitions: system.shape.partitions, targets: (kind) => system.shape.targets(kind) });
    say(`chaos: schedule of ${schedule.length} faults: ${schedule.map((f) => `${(f.at_ms / 1000).toFixed(1)}s ${f.kind}`).join(', ')}`);
    // Times in the history and the progress output count from here, the start of the workload.
    recorder = new Recorder();
    let running = true;
    const workloads = system.workloads(recorder, () => running);
    injected = await playSchedule({
      schedule,
      inject: (fault) => system.inject(fault),
      recovered: () => system.recovered(),
      recorder,
      workloadStart_ms: recorder.now(),
      duration_ms: options.duration_s * 1_000,
      say,
    });
    running = false;
    say('chaos: stopping the workload, healing everything');
    await workloads;
    await system.check(recorder, checked, violations, say);
  } catch (err) {
    // A crash behind it is reported too (finishRun); this says what could not be done.
    violations.push({ checker: 'harness', message: `the run did not complete: ${(err as Error).message}`, keys: [] });
  } finally {
    await system.stop();
  }
  return finishRun({ mode, folder, seed: options.seed, started_ms: started, recorder, checked, faults: injected, violations, crashes: system.crashes, replay: options.replay });
}
