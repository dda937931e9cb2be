import { describe, expect, it } from 'vitest';
import { Histogram, Registry } from 'prom-client';
import { parseStages, stagesBetween } from '../../src/bench/portal-trace.js';
import { STAGE_BUCKETS_S, STAGE_METRIC } from '../../src/metrics/transaction-metrics.js';

/** The stage histogram as a portal exposes it, with the given observations (seconds) per stage. */
async function exposition(observations: Record<string, number[]>): Promise<string> {
  const registry = new Registry();
  const h = new Histogram({ name: STAGE_METRIC, help: 'stages', labelNames: ['stage'], buckets: STAGE_BUCKETS_S, registers: [registry] });
  for (const [stage, values] of Object.entries(observations)) for (const v of values) h.observe({ stage }, v);
  return registry.metrics();
}

describe('bench --trace: the portal coordinator stages read from its metrics', () => {
  it('counts only what happened between two scrapes, with percentiles within their bucket', async () => {
    const before = parseStages(await exposition({ lock: [0.05, 0.05] }));
    // 100 lock rounds: 98 at 1.1 ms, 2 at 20 ms; 50 decides at 0.45 ms; plus the two before.
    const lock = [...Array<number>(98).fill(0.0011), 0.02, 0.02];
    const after = parseStages(await exposition({ lock: [0.05, 0.05, ...lock], decide: Array<number>(50).fill(0.00045) }));
    const stages = stagesBetween(before, after);
    expect(Object.keys(stages)).toEqual(['lock', 'decide']);
    expect(stages.lock!.count).toBe(100);
    // 1.1 ms lies in the bucket (1, 1.25] ms; the interpolated median must too.
    expect(stages.lock!.p50_ms).toBeGreaterThan(1);
    expect(stages.lock!.p50_ms).toBeLessThanOrEqual(1.25);
    expect(stages.lock!.p99_ms).toBeGreaterThan(15);
    expect(stages.lock!.p99_ms).toBeLessThanOrEqual(20);
    expect(stages.decide).toMatchObject({ count: 50 });
    expect(stages.decide!.p50_ms).toBeGreaterThan(0.4);
    expect(stages.decide!.p50_ms).toBeLessThanOrEqual(0.5);
  });

  it('ignores other metrics and malformed lines', () => {
    const text = ['# HELP x', 'grpc_server_handled_total{grpc_code="OK"} 3', `${STAGE_METRIC}_bucket{le="0.001",stage="lock"} nonsense`, `${STAGE_METRIC}_bucket{stage="lock"} 4`].join('\n');
    expect(parseStages(text).size).toBe(0);
  });
});
