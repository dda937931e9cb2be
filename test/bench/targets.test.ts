import { describe, expect, it } from 'vitest';
import { mqttSystemName } from '../../src/bench/mqtt-figures.js';
import type { BenchResults, LabelledRun } from '../../src/bench/results.js';
import { checkTargets } from '../../src/bench/targets-check.js';
import { visibilityFloorSystemName } from '../../src/bench/visibility-floor.js';

/** The verdicts of issue #17's targets are read off the runs of every broker the run measured. */
function run(workload: string, system: string, load: { concurrency?: number; rate_per_s?: number }, ops_per_s: number, p50_ms: number, p99_ms: number): LabelledRun {
  return {
    label: workload,
    system,
    workload,
    target: 'portal',
    loop: load.rate_per_s === undefined ? 'closed' : 'open',
    ...load,
    workers: 2,
    duration_ms: 10_000,
    ops: ops_per_s * 10,
    errors: 0,
    dropped: 0,
    ops_per_s,
    latency: { p50_ms, p90_ms: p99_ms, p99_ms, p999_ms: p99_ms, max_ms: p99_ms, mean_ms: p50_ms },
    histogram: { bucketsPerDecade: 0, counts: [] },
    errorSamples: [],
  } as unknown as LabelledRun;
}

const verdict = (runs: LabelledRun[], starts: string) => checkTargets({ runs } as unknown as BenchResults).find((v) => v.target.startsWith(starts));

describe('issue #17 targets', () => {
  const embedded1 = mqttSystemName(1, 'embedded');
  const mosquitto1 = mqttSystemName(1, 'mosquitto');
  const mosquitto3 = mqttSystemName(3, 'mosquitto');

  it('are not measured without mqtt runs, never met by default', () => {
    expect(verdict([], 'mqtt mode, one order')?.met).toBeUndefined();
    expect(verdict([], 'mqtt mode, one order')?.reached).toBe('not measured');
  });

  it('are met only when every broker measured meets them', () => {
    const fast = [run('create-order', embedded1, { concurrency: 1 }, 2_000, 0.5, 1), run('create-order', mosquitto1, { concurrency: 1 }, 2_000, 0.6, 1)];
    expect(verdict(fast, 'mqtt mode, one order')?.met).toBe(true);
    const oneSlow = [...fast.slice(0, 1), run('create-order', mosquitto1, { concurrency: 1 }, 900, 0.9, 3)];
    const v = verdict(oneSlow, 'mqtt mode, one order');
    expect(v?.met).toBe(false);
    expect(v?.reached).toBe('embedded: p50 0.50 ms, p99 1.00 ms; Mosquitto: p50 0.90 ms, p99 3.00 ms');
  });

  it('read throughput at 64 in flight and visibility at each paced rate', () => {
    const runs = [
      run('create-order', mosquitto1, { concurrency: 64 }, 2_500, 20, 55),
      run('visibility', mosquitto3, { rate_per_s: 250 }, 250, 1.5, 6),
      run('visibility', mosquitto3, { rate_per_s: 1_000 }, 1_000, 2, 9),
    ];
    expect(verdict(runs, 'mqtt mode, orders with 64')?.met).toBe(true);
    expect(verdict(runs, 'mqtt mode, visible on all 3 portals at 250')?.met).toBe(false);
    expect(verdict(runs, 'mqtt mode, visible on all 3 portals at 1,000')?.met).toBe(true);
  });

  it("name the machine's floor at the same rate beside a visibility figure, and are judged without it", () => {
    const floor = visibilityFloorSystemName(3);
    const runs = [
      run('visibility-floor', floor, { rate_per_s: 250 }, 250, 0.5, 4.2),
      run('visibility', mosquitto3, { rate_per_s: 250 }, 250, 1.5, 6),
      run('visibility', mosquitto3, { rate_per_s: 1_000 }, 1_000, 2, 9),
    ];
    const at250 = verdict(runs, 'mqtt mode, visible on all 3 portals at 250');
    expect(at250?.met).toBe(false);
    expect(at250?.reached).toBe("Mosquitto: p50 1.50 ms, p99 6.00 ms (the machine's floor, bare stand-ins on the same hops: p50 0.50 ms, p99 4.20 ms)");
    // No floor at 1,000/s in this run: nothing is said of it.
    expect(verdict(runs, 'mqtt mode, visible on all 3 portals at 1,000')?.reached).toBe('Mosquitto: p50 2.00 ms, p99 9.00 ms');
    // A floor alone is not an mqtt figure.
    expect(verdict(runs.slice(0, 1), 'mqtt mode, visible on all 3 portals at 250')?.reached).toBe('not measured');
  });
});
