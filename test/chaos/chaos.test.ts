import { rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runRaftChaos } from '../../src/chaos/raft-run.js';
import type { ChaosResult } from '../../src/chaos/result.js';
import { RAFT_FAULT_KINDS, type RaftFaultKind } from '../../src/chaos/raft-nemesis.js';
import { testSeed } from '../helpers/seed.js';

/**
 * The bounded chaos pass CI runs: three short runs with different seeds that together inject
 * every fault kind (each schedule covers its kinds once before repeating any). Each must find no
 * violation.
 * A failing run keeps its folder (history, logs, report.html) and prints how to replay it.
 */
function explain(result: ChaosResult): string {
  return `seed ${result.seed}: ${result.violations.map((v) => `${v.checker}: ${v.message}`).join('; ')} (history, logs and report in ${result.folder})`;
}

// Three runs, each with a third of the fault kinds (every run kills and cuts something, and the
// cache's feed loses its broker in one and a portal's link in another), so the
// pass covers every kind and each run's schedule fits its 30 s even when restarts are slow.
const RUNS: ReadonlyArray<readonly RaftFaultKind[]> = [
  ['kill-leader', 'partition-symmetric', 'portal-kill', 'broker-restart'],
  ['kill-follower', 'partition-oneway', 'lose-unsynced', 'pause'],
  ['kill-all', 'partition-bridge', 'pause', 'cache-feed-cut'],
];

describe('chaos pass (raft mode, all fault kinds)', () => {
  it('the runs cover every fault kind', () => {
    expect(new Set(RUNS.flat())).toEqual(new Set(RAFT_FAULT_KINDS));
  });

  RUNS.forEach((faults, i) => {
    it(`run ${i + 1} (${faults.join(', ')}) finds no violation`, { timeout: 200_000 }, async () => {
      const seed = testSeed(`run ${i + 1}`) + i;
      const result = await runRaftChaos({ seed, duration_s: 30, faults, progress: (line) => console.log(line) });
      expect(result.violations, explain(result)).toEqual([]);
      // Every kind was injected, and the workloads really ran and were checked.
      expect(new Set(result.faults.map((f) => f.kind)), explain(result)).toEqual(new Set(faults));
      expect(result.checked.register).toBeGreaterThan(100);
      expect(result.checked.shop).toBeGreaterThan(50);
      expect(result.checked.cache).toBeGreaterThan(50);
      rmSync(result.folder, { recursive: true, force: true });
    });
  });

  // The tier as ecom up lays it out: a kill or pause of a replica takes its process, so a replica
  // of each partition, and a process that ends up leading both partitions hands one over.
  const COLOCATED: readonly RaftFaultKind[] = ['kill-leader', 'kill-follower', 'pause', 'partition-symmetric'];
  it(`colocated tier (${COLOCATED.join(', ')}) finds no violation`, { timeout: 200_000 }, async () => {
    const seed = testSeed('colocated') + RUNS.length;
    const result = await runRaftChaos({ seed, duration_s: 30, faults: COLOCATED, colocate: true, progress: (line) => console.log(line) });
    expect(result.violations, explain(result)).toEqual([]);
    expect(new Set(result.faults.map((f) => f.kind)), explain(result)).toEqual(new Set(COLOCATED));
    expect(result.checked.register).toBeGreaterThan(100);
    expect(result.checked.shop).toBeGreaterThan(50);
    rmSync(result.folder, { recursive: true, force: true });
  });
});
