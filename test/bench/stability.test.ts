import { describe, expect, it } from 'vitest';
import { describeRun } from '../../src/bench/print.js';
import type { RunResult } from '../../src/bench/runner.js';
import { secondsAtLeast, STALL_BOUND_MS } from '../../src/bench/stability.js';

function raftRun(extra: Partial<RunResult>): RunResult {
  return {
    workload: 'put',
    target: 'storage',
    loop: 'closed',
    concurrency: 512,
    workers: 2,
    duration_ms: 60_000,
    ops: 600_000,
    errors: 0,
    dropped: 0,
    ops_per_s: 10_000,
    latency: { p50_ms: 40, p90_ms: 60, p99_ms: 90, p999_ms: 120, max_ms: 150, mean_ms: 42 },
    histogram: { bucketsPerDecade: 0, counts: [] },
    errorSamples: [],
    leaderChanges: 0,
    maxStall_ms: 62,
    maxLeaderSilence_ms: 90,
    ...extra,
  } as unknown as RunResult;
}

describe('stability figures', () => {
  it("counts the seconds whose longest stall reached issue #18's bound", () => {
    const seconds = new Map([
      [100, 49.9],
      [101, STALL_BOUND_MS],
      [102, 12],
      [103, 187],
    ]);
    expect(secondsAtLeast(seconds, STALL_BOUND_MS)).toBe(2);
    expect(secondsAtLeast(seconds, 200)).toBe(0);
    expect(secondsAtLeast(new Map(), STALL_BOUND_MS)).toBe(0);
  });

  it('prints how often the stalls reached the bound beside the longest', () => {
    const line = describeRun('storage put', raftRun({ stalledSeconds: 3 }));
    expect(line).toContain(`longest replica stall 62 ms, ${STALL_BOUND_MS} ms or more in 3 of 60 s, longest leader silence 90 ms`);
    // A result written before the count existed prints as it did.
    expect(describeRun('storage put', raftRun({}))).toContain('longest replica stall 62 ms, longest leader silence 90 ms');
  });

  it("prints the replicas' longest log fsync where they reported it", () => {
    expect(describeRun('storage put', raftRun({ maxFsync_ms: 843 }))).toContain('longest leader silence 90 ms, longest log fsync 843 ms');
    expect(describeRun('storage put', raftRun({}))).not.toContain('fsync');
  });
});
