import { describe, it } from 'vitest';
import { runSeedRange } from './run-seeds.js';

describe('simulator, all faults on', () => {
  it('seeds 1001..2000 hold every invariant and produce linearizable histories', () => {
    runSeedRange(1001, 1000);
  }, 180_000);
});
