import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findEtcdBinary } from '../../src/modes/etcd/cluster.js';
import type { LabelledRun } from '../../src/bench/results.js';
import { expectCleanedUp, expectSaneRun, runBench } from './run-bench.js';

const PORTAL_WORKLOADS = ['create-client', 'create-product', 'create-order', 'update-order', 'retrieve', 'retrieve-client-orders', 'shop'];

/**
 * Every portal answered the trace with the measured window's writes: each applied all of them
 * (the window opens when the workers start measuring, so about as many as the run counted), the
 * writes each received add up to the run's, and a write was visible only after its broker stage.
 */
function expectMqttTrace(run: LabelledRun): void {
  const trace = run.mqttTrace ?? [];
  expect(trace.map((t) => t.port).every((port) => port > 0), JSON.stringify(trace)).toBe(true);
  expect(trace).toHaveLength(3);
  const stage = (t: (typeof trace)[number], name: string) => t.stages[name] ?? { count: 0, p50_ms: 0, p90_ms: 0, p99_ms: 0, max_ms: 0 };
  for (const t of trace) {
    expect(stage(t, 'apply').count, `portal ${t.port} applied`).toBeGreaterThanOrEqual(run.ops * 0.7);
    expect(stage(t, 'apply').count, `portal ${t.port} applied`).toBeLessThanOrEqual(run.ops * 1.3 + 10);
    expect(stage(t, 'visible').p50_ms, `portal ${t.port}`).toBeGreaterThanOrEqual(stage(t, 'broker').p50_ms);
    expect(stage(t, 'loopDelay').count, `portal ${t.port} loop delay samples`).toBeGreaterThan(0);
  }
  const own = trace.reduce((sum, t) => sum + stage(t, 'write').count, 0);
  expect(own).toBeGreaterThanOrEqual(run.ops * 0.7);
  expect(own).toBeLessThanOrEqual(run.ops * 1.3 + 10);
}

describe('ecom bench: portal workloads and the comparison', () => {
  it('runs every portal workload through gRPC (single mode, the quickest to start)', async () => {
    const { results, output } = await runBench(['run', ...PORTAL_WORKLOADS, '--mode', 'single', '-c', '4', '--workers', '1', '--duration', '0.7', '--warmup', '0.2']);
    expect(results.runs.map((r) => r.workload)).toEqual(PORTAL_WORKLOADS);
    for (const run of results.runs) {
      expectSaneRun(run);
      expect(run.grpcClient, 'measured through the lean client unless --grpc-client says otherwise').toBe('lean');
    }
    expect(output).toMatch(/\[create-order, 4 in flight, 1 worker process, lean gRPC client\]/);
    expectCleanedUp(output);
  }, 150_000);

  it('measures through grpc-js when asked, and refuses a client it does not have', async () => {
    const { results, output } = await runBench(['run', 'create-order', 'retrieve-client-orders', '--mode', 'single', '--grpc-client', 'grpc-js', '-c', '2', '--workers', '1', '--duration', '0.5', '--warmup', '0.2']);
    for (const run of results.runs) {
      expectSaneRun(run);
      expect(run.grpcClient).toBe('grpc-js');
    }
    expectCleanedUp(output);
    await expect(runBench(['run', 'create-order', '--mode', 'single', '--grpc-client', 'curl', '--duration', '0.5'])).rejects.toThrow(/--grpc-client.*curl.*lean, grpc-js/s);
    // The storage-only benchmarks have no gRPC client to choose, and do not pretend to.
    await expect(runBench(['failover', '--grpc-client', 'lean', '--kills', '1'])).rejects.toThrow(/unknown option '--grpc-client'/);
  }, 150_000);

  it('traces an order through the raft-mode portal: lock, decide and the answer, beside the leaders\' stages', async () => {
    const { results, output } = await runBench(['run', 'create-order', '--mode', 'raft', '--trace', '-c', '2', '--workers', '1', '--duration', '1', '--warmup', '0.3']);
    const [run] = results.runs;
    expectSaneRun(run!);
    expect(output).toMatch(/trace, partition 0 \(leader \d, \d+ writes\): queued p50 [\d.]+ \/ p99 [\d.]+ ms; fsync p50 [\d.]+ \/ p99 [\d.]+ ms; leaderPersist p50/);
    expect(output).toMatch(/trace, portal coordinator: (exec p50 .*; )?queued p50 [\d.]+ \/ p99 [\d.]+ ms \(\d+\); lock p50 .*; decide p50 .*; answered p50/);
    const stages = run!.portalTrace!;
    // Every order is a cross-partition transaction: one lock and one decide round at least, each answered.
    expect(stages.answered!.count).toBeGreaterThanOrEqual(run!.ops);
    expect(stages.lock!.count).toBeGreaterThan(0);
    expect(stages.answered!.p50_ms).toBeGreaterThanOrEqual(stages.decide!.p50_ms);
    // What the system spent per order: every order wakes the portal and two partitions' leaders at least.
    expect(run!.cpuPerOp_us).toBeGreaterThan(0);
    expect(run!.switchesPerOp).toBeGreaterThanOrEqual(3);
    expect(output).toMatch(/system CPU [\d,]+ µs\/op, [\d.]+ context switches\/op/);
    expectCleanedUp(output);
  }, 150_000);

  it('runs mqtt mode over several portals on Mosquitto, measures visibility on every portal (its probe in one process), and traces each portal', async () => {
    const { results, output } = await runBench(['run', 'create-client', 'visibility', '--mode', 'mqtt', '--portals', '3', '--broker', 'mosquitto', '--rate', '100', '--duration', '1', '--warmup', '0.3', '--trace']);
    // Without --workers: the default two load processes, but one for the visibility probe.
    expect(results.runs.map((r) => [r.workload, r.system, r.workers])).toEqual([
      ['create-client', 'portal, mqtt mode (3 portals, Mosquitto)', 2],
      ['visibility', 'portal, mqtt mode (3 portals, Mosquitto)', 1],
    ]);
    for (const run of results.runs) {
      expectSaneRun(run);
      expectMqttTrace(run);
      // Every write crosses the broker and reaches 3 portals: several socket calls each.
      expect(run.syscallsPerOp, run.label).toBeGreaterThan(3);
      // Where the CPU went: each kind of process by its name, the system's adding up to its figure.
      const byProcess = run.cpuPerOpByProcess ?? [];
      expect(byProcess.map((p) => [p.process, p.processes]).sort(), run.label).toEqual([['admin-server', 3], ['bench-worker', run.workers], ['mosquitto', 1]].sort());
      const system = byProcess.filter((p) => p.process !== 'bench-worker').reduce((total, p) => total + p.perOpEach_us * p.processes, 0);
      expect(Math.abs(system - run.cpuPerOp_us!), run.label).toBeLessThanOrEqual(4);
    }
    expect(output).toMatch(/CPU µs\/op by process: (admin-server ×3 [\d,]+ each|mosquitto [\d,]+|load generator[^;]*)(, |;|$)/);
    expect(output).toMatch(/trace, portal :\d+ \(\d+ applied, \d+ its own\), ms: publish p50 [\d.]+ \/ p99 [\d.]+; broker p50/);
    expectCleanedUp(output);
  }, 150_000);

  it('refuses visibility with one portal, and mqtt shapes in other modes, saying what to do', async () => {
    await expect(runBench(['run', 'visibility', '--mode', 'mqtt', '--rate', '10', '--workers', '1', '--duration', '0.5', '--warmup', '0'])).rejects.toThrow(/visibility needs two portals or more: --portals 3/);
    await expect(runBench(['run', 'create-client', '--mode', 'single', '--portals', '2', '--duration', '0.5'])).rejects.toThrow(/--portals and --broker shape mqtt mode only; add --mode mqtt/);
  }, 150_000);

  it.skipIf(findEtcdBinary() === undefined)('compares with a 3-member etcd, prints the ratio, writes the chart and the report', async () => {
    const first = await runBench(['compare', '-c', '8', '--modes', 'single,mqtt', '--mode-workload', 'create-order', '--duration', '2', '--warmup', '1']);
    const { results, output, folder } = first;
    const c = results.comparison!;
    for (const run of [c.etcd, c.ecomOnePartition, c.ecomBothPartitions]) expectSaneRun(run);
    expect(c.etcd.grpcClient, 'etcd driven through the lean gRPC client, as the portals are').toBe('lean');
    expect(c.ratioBothPartitions).toBeCloseTo(c.ecomBothPartitions.ops_per_s / c.etcd.ops_per_s, 6);
    expect(output).toMatch(/ratio ecom \/ etcd .*: one partition \d+\.\d×, both partitions \d+\.\d×/);
    expect(results.modes?.runs.map((r) => r.system)).toEqual(['single mode', 'mqtt mode']);
    for (const run of results.modes!.runs) expectSaneRun(run);
    expectCleanedUp(output);
    // The chart and report are drawn from the results alone: render them from this run's JSON.
    const { renderChart } = await import('../../src/bench/chart.js');
    const { renderReport } = await import('../../src/bench/report.js');
    const svg = renderChart(results);
    expect(svg).toMatch(/^<\?xml[\s\S]*<svg[\s\S]*Durable puts[\s\S]*<\/svg>\n$/);
    expect(svg).toContain('etcd, 3 members');
    const md = renderReport(results, join(folder, 'bench.svg'), join(folder, 'report.md'));
    expect(md).toContain('![ecom bench chart](bench.svg)');
    expect(md).toMatch(/≥ 10× etcd .*\| \d+\.\d× both partitions/);
    expect(readFileSync(join(folder, 'results.json'), 'utf8')).toContain('"histogram"');
  }, 150_000);
});
