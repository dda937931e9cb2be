import { expect } from 'vitest';
import { DEFAULT_SIM_CONFIG, replayCommand, runSimulation } from '../../src/sim/simulation.js';

/** Steps per seed: enough for elections, faults, snapshots and reconfigurations in every run. */
export const STEPS_PER_SEED = 8000;

export function runSeedRange(from: number, count: number): void {
  const failures: string[] = [];
  let ops = 0;
  let applied = 0;
  const config = { ...DEFAULT_SIM_CONFIG, steps: STEPS_PER_SEED };
  for (let seed = from; seed < from + count; seed++) {
    const r = runSimulation(seed, config);
    ops += r.operations;
    applied += r.appliedEntries;
    if (r.violation) failures.push(`seed ${seed}: ${r.violation}\n  replay: ${replayCommand(seed, config)}`);
  }
  console.log(`seeds ${from}..${from + count - 1}: ${ops} operations checked, ${applied} entries applied, ${failures.length} violations`);
  expect(failures, failures.join('\n')).toEqual([]);
  // Guard against a vacuous run: the clusters must actually have made progress.
  expect(ops).toBeGreaterThan(count * 20);
  expect(applied).toBeGreaterThan(count * 10);
}
