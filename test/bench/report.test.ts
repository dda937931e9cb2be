import { describe, expect, it } from 'vitest';
import { renderReport } from '../../src/bench/report.js';
import type { BenchResults, LabelledRun } from '../../src/bench/results.js';

function run(label: string, errors: number, dropped: number): LabelledRun {
  return {
    label,
    system: 'raft tier 2×3',
    workload: 'put',
    target: 'storage',
    loop: 'open',
    rate_per_s: 16_000,
    workers: 2,
    duration_ms: 10_000,
    ops: 90_000,
    errors,
    dropped,
    ops_per_s: 9_000,
    latency: { p50_ms: 1, p90_ms: 2, p99_ms: 3, p999_ms: 4, max_ms: 5, mean_ms: 1 },
    histogram: { bucketsPerDecade: 0, counts: [] },
    errorSamples: [],
  } as unknown as LabelledRun;
}

const results = (runs: LabelledRun[]): BenchResults => ({
  tool: 'ecom bench',
  command: 'ecom bench run put --rate 16000',
  startedAt: '2026-12-06T05:00:00Z',
  machine: { cores: 2, cpuModel: 'test', platform: 'linux x64', node: 'v20', memory_GiB: 1, freeMemory_GiB: 1, code: 'compiled', loadAverage: [0, 0, 0], fsync: { folder: '/tmp', samples: 1, p50_ms: 0.1, p99_ms: 0.2, max_ms: 0.3 } },
  runs,
  notes: [],
});

describe('bench report', () => {
  it('tells requests that failed apart from those the open loop never sent', () => {
    const md = renderReport(results([run('over capacity', 3, 1_685), run('within capacity', 2, 0)]));
    expect(md).toMatch(/\| over capacity \|[^\n]*\| 9,000 \| 3 \(\+1,685 not sent\) \|/);
    expect(md).toMatch(/\| within capacity \|[^\n]*\| 9,000 \| 2 \|/);
  });
});
