import { describe, expect, it } from 'vitest';
import { writeSync } from 'node:fs';
import { basename } from 'node:path';
import { contextSwitches, CpuMeter, processName, systemCalls } from '../../src/bench/cpu.js';

describe('bench: the system cost meter', () => {
  it('counts the context switches of every thread of a process, and nothing for one that is gone', async () => {
    const before = contextSwitches(process.pid)!;
    // Each sleep parks the main thread once at least.
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 2));
    expect(contextSwitches(process.pid)! - before).toBeGreaterThanOrEqual(5);
    expect(contextSwitches(2 ** 22 + 12_345)).toBeUndefined();
  });

  it('counts the read and write system calls of a process, and nothing for one that is gone', () => {
    const before = systemCalls(process.pid)!;
    for (let i = 0; i < 5; i++) writeSync(process.stdout.fd, '');
    expect(systemCalls(process.pid)! - before).toBeGreaterThanOrEqual(5);
    expect(systemCalls(2 ** 22 + 12_345)).toBeUndefined();
  });

  it('measures CPU and switches between start and stop, over the processes alive at both ends', async () => {
    const meter = new CpuMeter(() => [process.pid, 2 ** 22 + 12_345]);
    expect(meter.stop()).toBeUndefined();
    meter.start();
    // 30 ms of this process's own CPU time (not wall time: a busy machine may not give it a core).
    const start = process.cpuUsage();
    while (process.cpuUsage(start).user < 30_000) Math.sqrt(Math.random());
    await new Promise((resolve) => setTimeout(resolve, 2));
    const cost = meter.stop()!;
    expect(cost.cpu_ms).toBeGreaterThanOrEqual(10);
    expect(cost.contextSwitches).toBeGreaterThanOrEqual(1);
    // The one process alive at both ends, under its name, with all of the CPU.
    expect(cost.byProcess).toEqual([{ process: processName(process.pid), count: 1, cpu_ms: cost.cpu_ms }]);
  });

  it("names a process by its ecom command, else by its program, and nothing once it is gone", () => {
    // This test runs in a vitest worker, not an ecom command: its program's name.
    expect(processName(process.pid)).toBe(basename(process.execPath));
    expect(processName(2 ** 22 + 12_345)).toBeUndefined();
  });
});
