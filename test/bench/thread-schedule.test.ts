// bench/thread-schedule.ts keeps telling who holds the cores: run against two busy processes it
// finds them by their command lines, counts each main thread's time on a CPU, and lists the
// windows in which each waited for a core with who ran meanwhile. No threshold on the figures
// (they belong to the machine), only that they are there and add up; the busy processes are
// stopped afterwards whatever happens.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { testSeed } from '../helpers/seed.js';

const script = path.join(import.meta.dirname, '../../bench/thread-schedule.ts');
const busy: ChildProcess[] = [];

afterEach(() => {
  for (const child of busy.splice(0)) child.kill('SIGKILL');
});

/** A process that keeps one core busy until killed, its command line carrying `marker`. */
function spin(marker: string): ChildProcess {
  const child = spawn(process.execPath, ['-e', 'for (;;) {}', marker], { stdio: 'ignore' });
  busy.push(child);
  return child;
}

describe('bench/thread-schedule.ts', () => {
  it('finds processes by command line and reports their threads, shares and longest waits', () => {
    const marker = `ecom-thread-schedule-${randomBytes(4).toString('hex')}`;
    const [a, b, c] = [spin(marker), spin(marker), spin(marker)];
    const r = spawnSync(process.execPath, ['--import', 'tsx', script, '--seconds', '1', '--interval-ms', '5', '--window-ms', '50', '--top', '2', '--match', marker], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^# 3 processes, \d+ threads; \d+ samples over \d+\.\d s/m);
    for (const child of [a, b, c]) {
      const row = r.stdout.split('\n').find((line) => line.includes(`${child.pid}/${child.pid} main`) && !line.startsWith('longest'));
      expect(row, r.stdout).toBeDefined();
      const [onCpu] = row!.trim().split(/\s+/).map(Number);
      // Three busy processes on this machine's two cores: each gets a good part of one, never more than one.
      expect(onCpu).toBeGreaterThan(100);
      expect(onCpu).toBeLessThan(1_500);
    }
    expect(r.stdout).toMatch(/ all of them$/m);
    // Three spinning processes on two cores must wait: each main thread has its windows listed.
    expect(r.stdout.match(/^longest waits of /gm)?.length ?? 0).toBeGreaterThanOrEqual(1);
    expect(r.stdout).toMatch(/^ {2}at \d+\.\d\d s, \d+ ms: waited \d+, ran \d+; meanwhile ran \(ms\): /m);
  });

  it('answers any command line with a report or a clear refusal, never a crash (seeded)', () => {
    const seed = testSeed('thread-schedule command lines');
    const token = fc.constantFrom('--seconds', '--interval-ms', '--window-ms', '--top', '--match', '0', '7', '-3', '2.5', 'x', '(', '[a-', 'node', '', String(process.pid), '999999999');
    // `--seconds 1` first: a line that happens to be valid runs one second (the first of a repeated option counts).
    const lines = fc.sample(fc.array(token, { maxLength: 6 }), { seed, numRuns: 12 });
    for (const line of lines) {
      const r = spawnSync(process.execPath, ['--import', 'tsx', script, '--seconds', '1', ...line], { encoding: 'utf8', timeout: 30_000 });
      const said = `${JSON.stringify(line)} (seed ${seed}): ${r.stderr}`;
      expect([0, 1, 2], said).toContain(r.status);
      if (r.status === 0) expect(r.stdout, said).toMatch(/ all of them$/m);
      else expect(r.stderr, said).toMatch(/^(thread-schedule: |--[a-z-]+ needs )/);
      expect(r.stderr, said).not.toMatch(/\n\s+at /);
    }
  });

  it('says so when nothing matches', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', script, '--seconds', '1', '--match', `no-such-process-${randomBytes(4).toString('hex')}`], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/no process's command line matches/);
  });
});
