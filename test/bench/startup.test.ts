import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { expectCleanedUp, runBench } from './run-bench.js';

/** Command lines of the processes still running that mention `text`. */
function processesMentioning(text: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (cmdline.includes(text)) found.push(`${pid}: ${cmdline}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** `ecom bench startup`: `ecom up` on free ports, timed stage by stage, then one-shot commands against it. */
describe('ecom bench startup', () => {
  it('times every stage of ecom up, its CPU and the one-shot commands, and leaves nothing running', async () => {
    const { results, output } = await runBench(['startup', '--runs', '1', '--one-shots', '2']);
    const startup = results.startup!;
    expect(startup.runs).toHaveLength(1);
    const run = startup.runs[0]!;
    const stages = ['up loaded', 'broker listening', 'replicas listening', 'leaders', 'AdminPortal serving', 'OrderPortal serving', 'system is up'];
    expect(Object.keys(run.stages).sort()).toEqual([...stages].sort());
    for (const stage of stages) expect(run.stages[stage], stage).toBeGreaterThan(0);
    // Serving means both portals answered, so after each portal said it serves.
    expect(run.serving_ms).toBeGreaterThanOrEqual(Math.max(run.stages['AdminPortal serving']!, run.stages['OrderPortal serving']!));
    expect(run.stages['leaders']!).toBeGreaterThanOrEqual(run.stages['replicas listening']!);
    // ecom up, the broker, 3 storage processes (each hosting a replica of both partitions) and 2 portals were running when it served.
    expect(run.processes).toBeGreaterThanOrEqual(7);
    expect(run.cpu_ms).toBeGreaterThan(0);
    expect(run.stop_ms).toBeGreaterThan(0);
    expect(startup.oneShot_ms).toHaveLength(2);
    for (const ms of startup.oneShot_ms) expect(ms).toBeGreaterThan(0);
    // A node process costs tens of ms of CPU to start: a one-shot's own, not counted, would read 0.
    expect(startup.oneShotCpu_ms).toHaveLength(2);
    for (const ms of startup.oneShotCpu_ms) expect(ms).toBeGreaterThanOrEqual(20);
    expect(output).toMatch(/startup 1\/1: serving after \d+\.\d\d s \(both portals answered\), CPU \d+\.\d\d s in \d+ processes/);
    expect(output).toMatch(/ecom up: serving after p50 \d+\.\d\d s/);
    expect(output).toMatch(/one-shot `ecom admin get-client 1` ×2: p50 \d.*; CPU p50 [\d.]+ ms, mean [\d.]+ ms/);
    const folder = /in (\/\S*ecom-bench-\w+)\)/.exec(output)![1]!;
    expect(processesMentioning(folder)).toEqual([]);
    expectCleanedUp(output);
  }, 120_000);
});
