import { describe, expect, it } from 'vitest';
import { contextSwitches, CpuMeter } from '../../src/bench/cpu.js';

describe('bench: the system cost meter', () => {
  it('counts the context switches of every thread of a process, and nothing for one that is gone', async () => {
    const before = contextSwitches(process.pid)!;
    // Each sleep parks the main thread once at least.
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 2));
    expect(contextSwitches(process.pid)! - before).toBeGreaterThanOrEqual(5);
    expect(contextSwitches(2 ** 22 + 12_345)).toBeUndefined();
  });

  it('measures CPU and switches between start and stop, over the processes alive at both ends', async () => {
    const meter = new CpuMeter(() => [process.pid, 2 ** 22 + 12_345]);
    expect(meter.stop()).toBeUndefined();
    meter.start();
    const until = Date.now() + 30;
    while (Date.now() < until) Math.sqrt(Math.random()); // 30 ms of CPU
    await new Promise((resolve) => setTimeout(resolve, 2));
    const cost = meter.stop()!;
    expect(cost.cpu_ms).toBeGreaterThanOrEqual(10);
    expect(cost.contextSwitches).toBeGreaterThanOrEqual(1);
  });
});
