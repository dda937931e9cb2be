import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectCleanedUp, expectSaneRun, runBench } from './run-bench.js';
import { runEcom } from '../helpers/ecom.js';

// Smoke runs: a second of each storage workload, to prove the tool works and its figures are
// sane. Performance is never asserted here (benchmarks are programs, not tests).
describe('ecom bench: storage API workloads', () => {
  // docs/spec.md: R-CLI-8
  it('runs put, get and mixed in a closed loop over two worker processes, and reports the machine', async () => {
    const { results, output } = await runBench(['run', 'put', 'get', 'mixed', 'get-stale', '-c', '4', '--duration', '1', '--warmup', '0.3']);
    expect(results.runs.map((r) => r.workload)).toEqual(['put', 'get', 'mixed']);
    for (const run of results.runs) {
      expectSaneRun(run);
      expect(run.workers).toBe(2);
    }
    expect(results.notes.join(' ')).toMatch(/get-stale skipped: .*no stale local read/);
    expect(results.machine.cores).toBeGreaterThan(0);
    expect(results.machine.fsync.p50_ms).toBeGreaterThan(0);
    expect(results.machine.fsync.p99_ms).toBeGreaterThanOrEqual(results.machine.fsync.p50_ms);
    expect(output).toMatch(/load average: /);
    expectCleanedUp(output);
  }, 150_000);

  it('runs an open loop at a fixed rate (its folder kept with --keep), and the failover benchmark', async () => {
    const open = await runBench(['run', 'put', '--rate', '100', '--duration', '1', '--warmup', '0.3', '--keep']);
    const kept = /kept (\/\S*ecom-bench-\w+) /.exec(open.output)?.[1];
    expect(kept, open.output).toBeDefined();
    try {
      const logs = readdirSync(join(kept!, 'raft', 'logs'));
      expect(logs.filter((name) => name.startsWith('storage-')).length, logs.join(', ')).toBeGreaterThan(0);
    } finally {
      rmSync(kept!, { recursive: true, force: true });
    }
    const run = open.results.runs[0]!;
    expectSaneRun(run);
    expect(run.loop).toBe('open');
    // About 100 requests were due in the measured second; a loaded machine may complete fewer, never many more.
    expect(run.ops).toBeLessThanOrEqual(110);
    const failover = await runBench(['failover', '--kills', '2', '--load', '2']);
    expect(failover.results.failover?.kills).toBe(2);
    for (const ms of failover.results.failover!.samples_ms) expect(ms).toBeGreaterThan(0);
    expect(failover.output).toMatch(/kill 2\/2: leader \d of partition 1/);
    expectCleanedUp(failover.output);
  }, 150_000);

  it('--max-pending bounds the leaders it starts, names the bound in the results, and goes with the raft tier only', async () => {
    const { results, output } = await runBench(['run', 'put', '-c', '16', '--max-pending', '2', '--duration', '1', '--warmup', '0.3']);
    const run = results.runs[0]!;
    expectSaneRun(run);
    // Refused busy beyond 2 per leader, every request was retried through the client's window, none lost.
    expect(run.errors + run.dropped).toBe(0);
    expect(run.system).toBe('raft tier 2×3 in 3 processes, leaders take at most 2 pending');
    expectCleanedUp(output);
    const refused = await runEcom(['bench', 'run', 'shop', '--mode', 'single', '--max-pending', '2', '--duration', '1'], { timeout_ms: 20_000 });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/--max-pending bounds the raft storage tier's leaders; it goes with --mode raft/);
  }, 150_000);
});
