import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Recorder, Violation } from './history.js';
import { renderReport } from './report.js';
import type { InjectedFault } from './schedule.js';
import type { Crash } from '../util/process-group.js';

/** What a chaos run found, whatever the system under test, and the folder that keeps its evidence. */
export interface ChaosResult {
  readonly ok: boolean;
  readonly mode: 'raft' | 'mqtt';
  readonly folder: string;
  readonly seed: number;
  readonly operations: number;
  /** Checked counts by checker, e.g. { register: 1200, shop: 400, cache: 900 }. */
  readonly checked: Readonly<Record<string, number>>;
  readonly faults: readonly InjectedFault[];
  readonly violations: readonly Violation[];
  readonly duration_s: number;
  /** The command that runs the same schedule again. */
  readonly replay: string;
}

/** A new folder for a run's evidence, or the one asked for. */
export function runFolder(mode: string, seed: number, out: string | undefined): string {
  const folder = resolve(out ?? mkdtempSync(join(tmpdir(), `ecom-chaos-${mode}-${seed}-`)));
  mkdirSync(folder, { recursive: true });
  return folder;
}

/** What a run leaves when it ends, whatever the mode. */
export interface RunEnd {
  readonly mode: ChaosResult['mode'];
  readonly folder: string;
  readonly seed: number;
  /** Date.now() when the run started. */
  readonly started_ms: number;
  readonly recorder: Recorder;
  readonly checked: Readonly<Record<string, number>>;
  readonly faults: readonly InjectedFault[];
  readonly violations: Violation[];
  readonly crashes: readonly Crash[];
  readonly replay: string;
}

/** Adds the processes that crashed to the violations, writes the run's folder and returns its result. */
export function finishRun(end: RunEnd): ChaosResult {
  for (const crash of end.crashes) {
    const clue = crash.lastLine === '' ? 'it logged nothing' : `its last line: ${crash.lastLine.slice(0, 300)}`;
    end.violations.push({ checker: 'process-crash', message: `${crash.name} exited on its own (${crash.exit}); ${clue} (log: ${crash.log})`, keys: [] });
  }
  const result: ChaosResult = {
    ok: end.violations.length === 0,
    mode: end.mode,
    folder: end.folder,
    seed: end.seed,
    operations: end.recorder.ops.length,
    checked: end.checked,
    faults: end.faults,
    violations: end.violations,
    duration_s: (Date.now() - end.started_ms) / 1000,
    replay: end.replay,
  };
  writeRunFolder(result, end.recorder);
  return result;
}

/** Writes history.jsonl, faults.json, summary.json and report.html into the run's folder. */
export function writeRunFolder(result: ChaosResult, recorder: Recorder): void {
  const summary = {
    mode: result.mode,
    seed: result.seed,
    ok: result.ok,
    operations: result.operations,
    checked: result.checked,
    faultsInjected: result.faults.length,
    violations: result.violations.length,
    wallClock_s: result.duration_s,
    replay: result.replay,
  };
  writeFileSync(join(result.folder, 'history.jsonl'), recorder.ops.map((o) => JSON.stringify(o)).join('\n') + '\n');
  writeFileSync(join(result.folder, 'faults.json'), `${JSON.stringify(result.faults, null, 2)}\n`);
  writeFileSync(join(result.folder, 'summary.json'), `${JSON.stringify({ ...summary, violationList: result.violations }, null, 2)}\n`);
  let report: string;
  try {
    report = renderReport({ title: `ecom chaos run (${result.mode} mode), seed ${result.seed}`, summary, ops: recorder.ops, faults: result.faults, violations: result.violations });
  } catch (err) {
    // The verdict and the history are written already: a report that cannot be drawn must not lose them.
    report = `<!doctype html><p>The report could not be drawn: ${String((err as Error).message).replace(/</g, '&lt;')}. See summary.json and history.jsonl.</p>\n`;
  }
  writeFileSync(join(result.folder, 'report.html'), report);
}

/** The command line that replays a run. */
export function replayCommand(mode: 'raft' | 'mqtt', seed: number, duration_s: number, faults: readonly string[], plantedBugs: readonly string[] = [], colocate = false): string {
  const bugs = plantedBugs.length > 0 ? ` --planted-bugs ${plantedBugs.join(',')}` : '';
  return `npm run chaos -- --mode ${mode} --seed ${seed} --duration ${duration_s} --faults ${faults.join(',')}${bugs}${colocate ? ' --colocate' : ''}`;
}
