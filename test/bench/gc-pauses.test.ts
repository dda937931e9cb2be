// bench/gc-pauses.ts keeps counting V8's pauses: given the logs of real Node processes run with
// --trace-gc (beside lines that are not traces, as a replica's log holds), it reports each
// process's collections with figures that add up to what the lines say; it refuses clearly what
// it cannot read, and says how to get traces when there are none.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { testSeed } from '../helpers/seed.js';

const script = path.join(import.meta.dirname, '../../bench/gc-pauses.ts');
const dir = mkdtempSync(path.join(tmpdir(), 'ecom-gc-pauses-'));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', script, ...args], { encoding: 'utf8', timeout: 30_000 });

/** The log of a Node process that allocates enough to collect, with --trace-gc, and a JSON line of its own in between. */
function tracedLog(file: string): { pid: number; scavenges: number[] } {
  const program = 'console.log(JSON.stringify({ msg: "started" })); let keep = []; for (let i = 0; i < 2e6; i++) { keep.push({ i }); if (keep.length > 1e5) keep = []; }';
  const r = spawnSync(process.execPath, ['--trace-gc', '-e', program], { encoding: 'utf8', timeout: 30_000 });
  expect(r.status, r.stderr).toBe(0);
  writeFileSync(file, r.stdout);
  const scavenges = [...r.stdout.matchAll(/^\[(\d+):0x[0-9a-f]+\]\s+\d+ ms: Scavenge .*? MB, ([\d.]+) \//gm)];
  return { pid: Number(scavenges[0]?.[1]), scavenges: scavenges.map((m) => Number(m[2])) };
}

describe('bench/gc-pauses.ts', () => {
  it("reports each traced process's scavenges as its lines say, finding logs in a folder once each", () => {
    mkdirSync(path.join(dir, 'run/logs'), { recursive: true });
    const a = tracedLog(path.join(dir, 'run/logs/a.log'));
    const b = tracedLog(path.join(dir, 'run/logs/b.log'));
    writeFileSync(path.join(dir, 'run/notes.txt'), 'not a log: never read\n');
    // A link back up the tree: followed, it would find the same logs again and again.
    symlinkSync(path.join(dir, 'run'), path.join(dir, 'run/logs/loop'));
    expect(a.scavenges.length, 'the program allocates enough to scavenge').toBeGreaterThan(2);
    const r = run(path.join(dir, 'run'));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^# GC pauses from --trace-gc in 2 file\(s\)/);
    for (const [file, traced] of [['a.log', a], ['b.log', b]] as const) {
      const row = r.stdout.split('\n').find((line) => line.startsWith(`${file} pid ${traced.pid} `) && line.includes(' Scavenge '));
      expect(row, r.stdout).toBeDefined();
      const [count, , total, , , , max] = row!.split('Scavenge')[1]!.trim().split(/\s+/);
      expect(Number(count)).toBe(traced.scavenges.length);
      expect(Number(total)).toBeCloseTo(traced.scavenges.reduce((x, y) => x + y, 0), -0.5);
      // Printed to a tenth of a millisecond: off by at most half of that (24.75 prints as 24.8).
      expect(Math.abs(Number(max) - Math.max(...traced.scavenges))).toBeLessThanOrEqual(0.05 + 1e-9);
    }
  });

  it('says how to get traces when the logs hold none, and refuses what it cannot read', () => {
    writeFileSync(path.join(dir, 'plain.log'), `${JSON.stringify({ msg: 'no traces here' })}\n`);
    const none = run(path.join(dir, 'plain.log'));
    expect(none.status).toBe(1);
    expect(none.stderr).toMatch(/no --trace-gc lines in 1 file\(s\).*ECOM_CHILD_NODE_ARGS=--trace-gc/);
    const missing = run(path.join(dir, 'nowhere'));
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/^gc-pauses: cannot read .*nowhere: ENOENT/);
    expect(run().status).toBe(2);
  });

  it('reads any text as a log without crashing, counting only what is a trace line (seeded)', () => {
    const seed = testSeed('gc-pauses lines');
    const real = readFileSync(path.join(dir, 'run/logs/a.log'), 'utf8').split('\n').find((line) => line.includes(' Scavenge '))!;
    const mangled = fc.oneof(
      fc.constant(real),
      fc.string({ maxLength: 120 }),
      fc.nat({ max: real.length }).map((cut) => real.slice(0, cut)),
      fc.tuple(fc.nat({ max: real.length }), fc.string({ maxLength: 3 })).map(([at, s]) => real.slice(0, at) + s + real.slice(at)),
    );
    const logs = fc.sample(fc.array(mangled, { maxLength: 30 }), { seed, numRuns: 8 });
    logs.forEach((lines, i) => {
      const file = path.join(dir, `fuzz-${i}.log`);
      writeFileSync(file, lines.join('\n'));
      const r = run(file);
      const said = `seed ${seed}, log ${i}: ${r.stderr}`;
      expect([0, 1], said).toContain(r.status);
      expect(r.stderr, said).not.toMatch(/\n\s+at /);
      // A mangled copy may still be a trace line; every untouched copy must be counted.
      const exact = lines.filter((line) => line === real).length;
      const counted = [...r.stdout.matchAll(/ Scavenge\s+(\d+) /g)].reduce((sum, m) => sum + Number(m[1]), 0);
      expect(counted, said).toBeGreaterThanOrEqual(exact);
      expect(r.status === 0, said).toBe(r.stdout.startsWith('# GC pauses'));
      if (exact > 0) expect(r.status, said).toBe(0);
    });
  });
});
