import { rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runChaos, type ChaosResult } from '../../src/chaos/run.js';
import { FAULT_KINDS } from '../../src/chaos/nemesis.js';
import { testSeed } from '../helpers/seed.js';

/**
 * The bounded chaos pass CI runs: three short runs with different seeds, every fault kind in
 * each (the schedule covers each kind once before repeating any). Each must find no violation.
 * A failing run keeps its folder (history, logs, report.html) and prints how to replay it.
 */
function explain(result: ChaosResult): string {
  return `seed ${result.seed}: ${result.violations.map((v) => `${v.checker}: ${v.message}`).join('; ')} (history, logs and report in ${result.folder})`;
}

describe('chaos pass (raft mode, all fault kinds)', () => {
  for (const run of [1, 2, 3]) {
    it(`run ${run} finds no violation`, { timeout: 180_000 }, async () => {
      const seed = testSeed(`run ${run} finds no violation`) + run;
      const result = await runChaos({ seed, duration_s: 32, faults: [...FAULT_KINDS], progress: (line) => console.log(line) });
      expect(result.violations, explain(result)).toEqual([]);
      // Every kind was injected, and the workloads really ran and were checked.
      expect(new Set(result.faults.map((f) => f.kind))).toEqual(new Set(FAULT_KINDS));
      expect(result.checkedRegister).toBeGreaterThan(100);
      expect(result.checkedShop).toBeGreaterThan(100);
      rmSync(result.folder, { recursive: true, force: true });
    });
  }
});
