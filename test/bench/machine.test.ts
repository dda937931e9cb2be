import { describe, expect, it } from 'vitest';
import { describeMachine, runningCode, type MachineInfo } from '../../src/bench/machine.js';

const machine: MachineInfo = {
  cores: 2,
  cpuModel: 'test',
  node: 'v20',
  platform: 'linux x64',
  memory_GiB: 24,
  freeMemory_GiB: 20,
  loadAverage: [0.1, 0.2, 0.3],
  fsync: { folder: '/tmp', samples: 200, p50_ms: 0.1, p99_ms: 0.2, max_ms: 1 },
  code: 'compiled',
};

/** A bench says whether it ran the build or the sources: the sources start every process slower. */
describe('the machine a bench ran on', () => {
  it('tells the sources from the build by the module that runs', () => {
    expect(runningCode('file:///repo/src/bench/machine.ts')).toBe('sources');
    expect(runningCode('file:///repo/dist/bench/machine.js')).toBe('compiled');
    // Under vitest the sources run.
    expect(runningCode()).toBe('sources');
  });

  it('warns when the figures come from the sources, and says how to build', () => {
    expect(describeMachine(machine)).not.toMatch(/WARNING/);
    expect(describeMachine({ ...machine, code: 'sources' })).toMatch(/WARNING the TypeScript sources.*npm run build/);
  });
});
