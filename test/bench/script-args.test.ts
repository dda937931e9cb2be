// The micro-benchmark scripts of bench/ refuse an option they cannot read, naming it, instead of
// measuring NaN rounds and printing figures of nothing.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';

const script = (name: string) => path.join(import.meta.dirname, '../../bench', name);
const run = (name: string, args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', script(name), ...args], { encoding: 'utf8', timeout: 30_000 });

describe('bench/ scripts: options', () => {
  it.each([
    ['raft-core.ts', ['--entries', 'lots'], /--entries needs a whole number above 0, got "lots"/],
    ['raft-log.ts', ['--rounds', '0'], /--rounds needs a whole number above 0, got "0"/],
    ['entry-codec.ts', ['--iterations', '1e5'], /--iterations needs a whole number above 0, got "1e5"/],
    ['apply-cost.ts', ['--batch'], /--batch needs a whole number above 0, got nothing/],
    ['apply-cost.ts', ['--against'], /--against needs a value, got nothing/],
    ['apply-cost.ts', ['--against', path.join(import.meta.dirname, 'no-such-checkout')], /no ecom checkout there/],
    ['store-reads.ts', ['--results', '0'], /--results needs a whole number above 0, got "0"/],
    ['fsync-watch.ts', ['--every-ms', 'often'], /--every-ms needs a whole number above 0, got "often"/],
    ['fsync-watch.ts', ['--dir'], /--dir needs a value, got nothing/],
    ['replication-floor.ts', ['--concurrency', 'many'], /--concurrency needs a whole number above 0, got "many"/],
    ['replication-floor.ts', ['--apply-us', '-5'], /--apply-us needs a whole number of 0 or more, got "-5"/],
    ['thread-schedule.ts', ['--interval-ms', '0.5', '1'], /--interval-ms needs a whole number above 0, got "0.5"/],
    ['thread-schedule.ts', ['--match'], /--match needs a value, got nothing/],
    ['thread-schedule.ts', ['--match', '--seconds', '2'], /--match needs a value, got "--seconds"/],
    ['thread-schedule.ts', ['--match', '(', '--seconds', '1'], /--match is not a regular expression/],
    ['thread-schedule.ts', [], /name the processes: --match REGEX/],
    ['thread-schedule.ts', ['--seconds', '1', 'me'], /"me" is neither an option nor a process id/],
    ['thread-schedule.ts', ['--match', 'x', '1'], /give --match or process ids, not both/],
  ])('%s %j exits 2 before measuring', (name, args, message) => {
    const r = run(name, args);
    expect(r.status, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).not.toMatch(/entries\/s|ns|µs/);
  });
});

describe('bench/apply-cost.ts --against: two builds in one process', () => {
  it('applies with both, round by round, and says how they compare', () => {
    const root = path.join(import.meta.dirname, '../..');
    const r = run('apply-cost.ts', ['--batches', '2', '--batch', '16', '--rounds', '3', '--ack-step', '118', '--against', root]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout.match(/^round \d\/3: .*µs of CPU per entry/gm), 'a line per build and round').toHaveLength(6);
    expect(r.stdout).toMatch(/^CPU per applied entry, this checkout .*: lowest [\d.]+ µs, median [\d.]+ µs over 3 rounds$/m);
    expect(r.stdout).toMatch(/^CPU per applied entry, --against .*: lowest [\d.]+ µs, median [\d.]+ µs over 3 rounds$/m);
    expect(r.stdout).toMatch(/^this checkout against the other, round by round: median ratio [\d.]+ \(lower in [0-3] of 3 rounds\)$/m);
  });
});

describe('bench/fsync-watch.ts', () => {
  it('times fdatasyncs for the seconds asked, prints the slow ones and a summary, and leaves nothing behind', () => {
    const r = run('fsync-watch.ts', ['--seconds', '1', '--every-ms', '5', '--over-ms', '1000']);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const dir = /in (\S+); printing/.exec(r.stdout)?.[1];
    expect(dir).toBeDefined();
    expect(existsSync(dir!)).toBe(false);
    const summary = /^fsync-watch: (\d+) fdatasyncs, p50 [\d.]+ ms, p99 [\d.]+ ms, longest [\d.]+ ms, (\d+) of 1000 ms or more$/m.exec(r.stdout);
    expect(summary, r.stdout).not.toBeNull();
    // One second at one every 5 ms (plus the fsyncs' own time): some tens, not one or thousands.
    expect(Number(summary![1])).toBeGreaterThan(20);
    expect(Number(summary![1])).toBeLessThan(250);
    expect(r.stdout.split('\n').filter((l) => /fdatasync took/.test(l))).toHaveLength(Number(summary![2]));
  });
});

describe('bench/store-reads.ts', () => {
  it('finds every result both ways and prints both reads of the applied index', () => {
    const r = run('store-reads.ts', ['--rounds', '1', '--results', '2000']);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^acknowledged results \(2000 in steps of 118 seqs, median of 1 round\): with values [\d.]+ µs of CPU per key, keys only [\d.]+ µs$/m);
    expect(r.stdout).toMatch(/^applied index \(500000 reads a round\): read from LMDB [\d.]+ µs of CPU per read, kept by the store [\d.]+ µs$/m);
  });
});
