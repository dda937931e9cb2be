// 2,000 simulator seeds with every fault on are split over two files so both cores work.
import { describe, it } from 'vitest';
import { runSeedRange } from './run-seeds.js';

describe('simulator, all faults on', () => {
  it('seeds 1..1000 hold every invariant and produce linearizable histories', () => {
    runSeedRange(1, 1000);
  }, 180_000);
});
