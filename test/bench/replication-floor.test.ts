// bench/replication-floor.ts keeps working: a short run through every stand-in (a leader, two
// followers, load processes) prints a throughput, a latency and each stand-in's stall, and leaves
// no process behind. No performance threshold: the figures belong to the machine.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const script = path.join(import.meta.dirname, '../../bench/replication-floor.ts');

function standInsRunning(): string[] {
  const ps = spawnSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
  return ps.stdout.split('\n').filter((line) => line.includes('ecom-replication-floor-'));
}

describe('bench/replication-floor.ts', () => {
  it('measures the bare design with its apply in pieces and stops every stand-in', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', script, '--seconds', '2', '--warmup', '1', '--concurrency', '64', '--apply-us', '5', '--slice-us', '500'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const summary = /replication floor \[64 in flight, 2 load processes, 5 µs of apply per write in pieces of 500 µs, 2 s after 1 s\]: ([\d,]+) writes\/s; latency ms p50 [\d.]+/.exec(r.stdout);
    expect(summary, r.stdout).not.toBeNull();
    expect(Number(summary![1]!.replace(/,/g, ''))).toBeGreaterThan(0);
    for (const name of ['leader', 'follower 1', 'follower 2']) {
      expect(r.stdout).toMatch(new RegExp(`  ${name}: \\d+ µs of CPU per write; longest stall \\d+ ms \\(ran \\d+ ms, waited \\d+ ms for a core\\)`));
    }
    expect(r.stdout).toMatch(/disk fsync .* p50 [\d.]+ ms/);
    expect(standInsRunning()).toEqual([]);
  }, 90_000);
});
