// npm run chaos refuses what it cannot take before it starts anything, with exit code 2 (1 means
// a violation was found) and a message that names the value typed.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { Prng } from '../../src/util/random.js';
import { testSeed } from '../helpers/seed.js';

const cli = path.join(import.meta.dirname, '../../src/chaos/cli.ts');
const run = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', cli, ...args], { encoding: 'utf8', timeout: 30_000 });

describe('npm run chaos: arguments', () => {
  it.each([
    [['--duration', 'abc'], /--duration must be a number above 0 to 86400, got "abc"/],
    [['--duration', '0'], /--duration must be a number above 0 to 86400, got "0"/],
    [['--seed', '1.5'], /--seed must be a whole number from 0 to \d+, got "1.5"/],
    [['--mode', 'nope'], /Allowed choices are raft, mqtt/],
    [['--durration', '5'], /unknown option '--durration'/],
    [['--faults', 'kill-everything'], /kill-everything/],
  ])('refuses %j with exit code 2 and starts nothing', (args, message) => {
    const r = run(args);
    expect(r.status, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).not.toMatch(/chaos summary|fault #/);
  });

  it('--help exits 0 and lists the options', () => {
    const r = run(['--help']);
    expect(r.status).toBe(0);
    for (const option of ['--mode <mode>', '--duration <s>', '--seed <n>', '--faults <list>', '--colocate']) expect(r.stdout).toContain(option);
  });

  it('fuzz chaos arguments: a bad value for any option is refused in a few lines, nothing started', () => {
    const r = new Prng(testSeed('fuzz chaos arguments'));
    const bad: Record<string, readonly string[]> = {
      '--duration': ['abc', '-1', '0', '1e309', '0x10', '', '90000'],
      '--seed': ['abc', '-1', '1.5', '1e309', '0x10', ''],
      '--mode': ['nope', 'RAFT', ''],
      '--broker': ['rabbit', ''],
      '--faults': ['kill-everything', 'kill-leader,,nope'],
    };
    for (let i = 0; i < 6; i++) {
      const option = r.pick(Object.keys(bad));
      const value = r.pick(bad[option]!);
      const result = run([option, value]);
      const what = `chaos ${option} ${JSON.stringify(value)}`;
      expect(result.status, `${what}\n${result.stdout}${result.stderr}`).toBe(2);
      expect(result.stderr, `${what}: says why`).toMatch(/\S/);
      expect(result.stderr, `${what}: no stack trace`).not.toMatch(/^\s+at /m);
      expect(result.stderr.trim().split('\n').length, what).toBeLessThanOrEqual(3);
      expect(result.stdout, what).not.toMatch(/chaos summary|fault #/);
    }
  });
});
