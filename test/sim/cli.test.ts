// The CLI contract: progress and a summary, exit code 1 on a violation, a replay command that
// reproduces the failing seed exactly, and exit code 2 for arguments it cannot take.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { Prng } from '../../src/util/random.js';
import { testSeed } from '../helpers/seed.js';

const cli = path.join(import.meta.dirname, '../../src/sim/cli.ts');
const run = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', cli, ...args], { encoding: 'utf8' });

describe('npm run sim', () => {
  it('--seeds N prints progress and a summary and exits 0 when every seed holds', () => {
    const r = run(['--seeds', '20', '--steps', '2000']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/progress 20\/20 seeds/);
    expect(r.stdout).toMatch(/summary: seeds 20 \(from 1\), steps 40000, entries applied \d+, operations checked \d+, violations 0/);
  }, 60_000);

  it('a violation exits 1 and prints a replay command that reproduces it', () => {
    const r = run(['--seeds', '3', '--steps', '2500', '--bug', 'local-reads']);
    expect(r.status).toBe(1);
    const replay = /replay: npm run sim -- (--seed \d+ --steps 2500 --bug local-reads)/.exec(r.stdout);
    expect(replay, r.stdout).not.toBeNull();
    const again = run(replay![1]!.split(' '));
    expect(again.status).toBe(1);
    expect(again.stdout).toMatch(/VIOLATION: SimViolation: history not linearizable/);
  }, 60_000);

  it('--help lists the options and runs nothing', () => {
    const r = run(['--help']);
    expect(r.status).toBe(0);
    for (const option of ['--seed <n>', '--seeds <n>', '--from <n>', '--steps <n>', '--no-faults', '--trace', '--bug <kind>']) expect(r.stdout).toContain(option);
    expect(r.stdout).not.toMatch(/progress|summary:/);
  });

  it.each([
    [['--sed', '5'], /unknown option '--sed'[\s\S]*Did you mean --seed\?/],
    [['--steps', 'abc'], /--steps must be a whole number from 1 to \d+, got "abc"/],
    [['--seeds', '0'], /--seeds must be a whole number from 1/],
    [['--seed', '-3'], /--seed must be a whole number from 0 to \d+, got "-3"/],
    [['--seed', '3', '--seeds', '4'], /'--seed <n>' cannot be used with option '--seeds <n>'/],
    [['--bug', 'nope'], /Allowed choices are none, skip-fsync, local-reads/],
    [['--seeds', '3', '--trace'], /--trace prints the trace of one seed: give that seed with --seed N/],
  ])('refuses %j with exit code 2 before running anything', (args, message) => {
    const r = run(args);
    expect(r.status, r.stdout).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).not.toMatch(/progress|summary:|ok$/m);
  });

  it('fuzz sim arguments: a bad number for any option is refused in a few lines, never run', () => {
    const r = new Prng(testSeed('fuzz sim arguments'));
    for (let i = 0; i < 6; i++) {
      const option = r.pick(['--seed', '--seeds', '--from', '--steps']);
      const value = r.pick(['abc', '-1', '1e309', '0x10', '', '1.5', ' 7']);
      const result = run([option, value]);
      const what = `sim ${option} ${JSON.stringify(value)}`;
      expect(result.status, `${what}\n${result.stdout}${result.stderr}`).toBe(2);
      expect(result.stderr, what).toContain(option);
      expect(result.stderr, `${what}: no stack trace`).not.toMatch(/^\s+at /m);
      expect(result.stderr.trim().split('\n').length, what).toBeLessThanOrEqual(3);
      expect(result.stdout, what).toBe('');
    }
  });
});
