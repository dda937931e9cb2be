import { describe, expect, it } from 'vitest';
import { expectCleanedUp, runBench } from './run-bench.js';

/** `ecom bench scale` at a toy size: the segments, the restart, the backup and the catch-up by snapshot are all measured. */
describe('ecom bench scale', () => {
  it('grows a partition in segments, restarts its leader and catches a follower up by snapshot', async () => {
    const { results, output } = await runBench(['scale', '--records', '600', '--segments', '2', '-c', '8']);
    const scale = results.scale!;
    expect(scale.segments.map((s) => [s.from, s.to])).toEqual([[0, 300], [300, 600]]);
    for (const s of scale.segments) expect(s.ops_per_s).toBeGreaterThan(0);
    expect(scale.restart_ms).toBeGreaterThan(0);
    // The backup of the grown partition read its leader's copy to the end: every record, and no piece twice.
    expect(scale.backup!.keys).toBeGreaterThanOrEqual(600);
    expect(scale.backup!.bytes).toBeGreaterThan(600 * 50);
    expect(output).toMatch(/backup: partition 0's copy of [\d,]+ records/);
    // The new, empty replica installed a copy holding at least the 600 records and the 1,000 written while it was down.
    expect(scale.catchUp.bytes).toBeGreaterThan(1_600 * 50);
    expect(output).toMatch(/the last segment ran at \d+ % of the first's rate/);
    expectCleanedUp(output);
  }, 150_000);
});
