// bench/replication-floor.ts keeps working: a short run through every stand-in (a leader, two
// followers, load processes) prints a throughput, a latency and each stand-in's stall, and leaves
// no process behind. No performance threshold: the figures belong to the machine. Its stand-ins'
// ports take whatever anyone sends: the leader's any bytes as writes, a follower's a batch it
// cannot take by closing that connection, and both serve on.
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openLoopback, sendGarbage } from '../helpers/garbage.js';
import { running } from '../helpers/processes.js';
import { testSeed } from '../helpers/seed.js';

const script = path.join(import.meta.dirname, '../../bench/replication-floor.ts');
const WRITE_BYTES = 128;

function standInsRunning(): string[] {
  const ps = spawnSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
  return ps.stdout.split('\n').filter((line) => line.includes('ecom-replication-floor-'));
}

/** One stand-in of the script, as its parent starts it; resolves with the port it listens on. */
function standIn(args: string[], stderr: string[]): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(script, args, { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`stand-in ${args[0]} exited with ${code}: ${stderr.join('')}`)));
    child.on('message', (m: { port?: number }) => m.port !== undefined && resolve({ child, port: m.port }));
  });
}


/** Sends `count` writes to the leader stand-in and resolves with the ids it answers, in order. */
async function writeThrough(leaderPort: number, count: number): Promise<number[]> {
  const socket = await openLoopback(leaderPort);
  const frames = Buffer.alloc(count * WRITE_BYTES, 0x62);
  for (let i = 0; i < count; i++) frames.writeUInt32LE(1_000 + i, i * WRITE_BYTES);
  const answered: number[] = [];
  await new Promise<void>((resolve) => {
    let bytes = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      bytes = Buffer.concat([bytes, chunk]);
      if (bytes.length < count * 4) return;
      for (let at = 0; at < bytes.length; at += 4) answered.push(bytes.readUInt32LE(at));
      resolve();
    });
    socket.write(frames);
  });
  socket.destroy();
  return answered;
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

  it('stand-ins outlive garbage on every port (seeded), then still commit writes, and go with their parent', async () => {
    const seed = testSeed('replication floor stand-ins outlive garbage');
    const dir = mkdtempSync(path.join(tmpdir(), 'ecom-replication-floor-'));
    const stderr: string[] = [];
    const children: ChildProcess[] = [];
    try {
      const followers = [await standIn(['follower', path.join(dir, 'follower-1'), '2', '0'], stderr), await standIn(['follower', path.join(dir, 'follower-2'), '2', '500'], stderr)];
      const leader = await standIn(['leader', path.join(dir, 'leader'), '2', '0', String(followers[0]!.port), String(followers[1]!.port)], stderr);
      children.push(...followers.map((f) => f.child), leader.child);
      expect(await writeThrough(leader.port, 40)).toEqual(Array.from({ length: 40 }, (_, i) => 1_000 + i));

      // A batch no leader stand-in sends: that connection is closed, with a line saying why.
      const oversized = await openLoopback(followers[0]!.port);
      oversized.on('error', () => undefined);
      oversized.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0]));
      await new Promise((resolve) => oversized.once('close', resolve));
      expect(stderr.join('')).toMatch(/follower refused a batch of 4294967295 bytes \(whole 128-byte writes, at most 16777216 bytes\); closing that connection/);

      // Random bytes of random lengths to random stand-ins, some of them whole writes or batch headers.
      await sendGarbage([leader.port, followers[0]!.port, followers[1]!.port], seed, 3 * WRITE_BYTES + 9);

      for (const child of children) expect(running(child.pid), `stand-in ${child.pid}`).toBe(true);
      expect(await writeThrough(leader.port, 40)).toEqual(Array.from({ length: 40 }, (_, i) => 1_000 + i));

      // A stand-in goes when its parent does (its IPC channel closes).
      const exits = children.map((child) => new Promise((resolve) => child.once('exit', resolve)));
      for (const child of children) child.disconnect();
      expect(await Promise.all(exits)).toEqual([0, 0, 0]);
    } finally {
      for (const child of children) if (running(child.pid)) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
