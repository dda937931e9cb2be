import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { CorruptLogError, FileLog } from '../../../src/raft/log/file-log.js';
import { FileSnapshotStore } from '../../../src/raft/log/file-snapshot.js';
import { Prng } from '../../../src/util/random.js';
import { entryFor } from './content.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raft-log-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function expectEntries(log: FileLog, lo: number, hi: number): void {
  if (hi < lo) return;
  const got = log.entries(lo, hi);
  expect(got.length).toBe(hi - lo + 1);
  got.forEach((e, i) => expect(e).toEqual(entryFor(lo + i)));
}

describe('FileLog', () => {
  it('recovers entries and hard state after reopening', () => {
    const log = FileLog.open(dir);
    log.append([entryFor(1), entryFor(2), entryFor(3)]);
    log.setHardState({ term: 3, vote: 2, commit: 2 });
    log.sync();
    log.close();
    const again = FileLog.open(dir);
    expect(again.lastIndex()).toBe(3);
    expect(again.hardState()).toEqual({ term: 3, vote: 2, commit: 2 });
    expectEntries(again, 1, 3);
    again.close();
  });

  it('an append at an existing index replaces the suffix, also after recovery', () => {
    const log = FileLog.open(dir);
    log.append([1, 2, 3, 4].map(entryFor));
    log.append([{ ...entryFor(3), term: 99 }]);
    log.sync();
    log.close();
    const again = FileLog.open(dir);
    expect(again.lastIndex()).toBe(3);
    expect(again.entries(3, 3)[0]!.term).toBe(99);
    again.close();
  });

  it('rolls segments and deletes the ones a compaction covers, once its marker is durable', async () => {
    const log = FileLog.open(dir, { segment_bytes: 2048, max_unsynced_bytes: 1 << 20 });
    const synced = (): Promise<Error | undefined> => new Promise((resolve) => log.syncAsync(resolve));
    for (let i = 1; i <= 200; i++) {
      log.append([entryFor(i)]);
      expect(await synced()).toBeUndefined();
    }
    const before = log.segmentFiles().length;
    expect(before).toBeGreaterThan(5);
    log.setHardState({ term: 7, vote: 1, commit: 150 });
    log.compact(150);
    // Nothing goes before the marker is durable: a crash now must find every entry's segment.
    expect(log.segmentFiles().length).toBe(before);
    expect(await synced()).toBeUndefined();
    await log.settled();
    expect(log.segmentFiles().length).toBeLessThan(before);
    // On disk: the log's segments and, at most, the next one made ready ahead of time, still empty.
    const inLog = log.segmentFiles().map((f) => path.basename(f)).sort();
    const onDisk = fs.readdirSync(dir).filter((n) => n.endsWith('.log')).sort();
    const ahead = onDisk.filter((n) => !inLog.includes(n));
    expect(onDisk.slice(0, inLog.length)).toEqual(inLog);
    expect(ahead.length).toBeLessThanOrEqual(1);
    for (const name of ahead) {
      expect(name > inLog[inLog.length - 1]!).toBe(true);
      expect(fs.statSync(path.join(dir, name)).size).toBe(0);
    }
    log.close();
    const again = FileLog.open(dir);
    expect(again.firstIndex()).toBe(151);
    expect(again.lastIndex()).toBe(200);
    expect(again.hardState()).toEqual({ term: 7, vote: 1, commit: 150 });
    expectEntries(again, 151, 200);
    again.close();
  });

  it('a crash between making the next segment ready and writing to it: the empty segment gets the header, and compaction stays safe', async () => {
    const log = FileLog.open(dir, { segment_bytes: 2048, max_unsynced_bytes: 1 << 20 });
    const synced = (l: FileLog): Promise<Error | undefined> => new Promise((resolve) => l.syncAsync(resolve));
    for (let i = 1; i <= 60; i++) {
      log.append([entryFor(i)]);
      expect(await synced(log)).toBeUndefined();
    }
    log.setHardState({ term: 4, vote: 2, commit: 60 });
    expect(await synced(log)).toBeUndefined();
    log.close();
    // What a kill -9 leaves when it lands after the next segment was created and before it was written.
    const last = log.segmentFiles().at(-1)!;
    const seq = Number(/wal-(\d+)\.log$/.exec(last)![1]) + 1;
    fs.writeFileSync(path.join(dir, `wal-${String(seq).padStart(16, '0')}.log`), '');
    const again = FileLog.open(dir, { segment_bytes: 2048, max_unsynced_bytes: 1 << 20 });
    expect(again.segmentFiles().length).toBe(log.segmentFiles().length + 1);
    again.append([entryFor(61)]);
    again.compact(59);
    expect(await synced(again)).toBeUndefined();
    await again.settled();
    // Every segment but the restated one went; the hard state survives in its header.
    expect(again.segmentFiles().length).toBeLessThan(log.segmentFiles().length);
    again.close();
    const third = FileLog.open(dir);
    expect(third.hardState()).toEqual({ term: 4, vote: 2, commit: 60 });
    expect([third.firstIndex(), third.lastIndex()]).toEqual([60, 61]);
    expectEntries(third, 60, 61);
    third.close();
  });

  it('syncAsync writes at once, fdatasyncs on the thread pool, rolls and closes only after it', async () => {
    const log = FileLog.open(dir, { segment_bytes: 2048, max_unsynced_bytes: 1 << 20 });
    const synced = (): Promise<Error | undefined> => new Promise((resolve) => log.syncAsync(resolve));
    for (let i = 1; i <= 60; i++) {
      log.append([entryFor(i)]);
      expect(await synced()).toBeUndefined();
    }
    expect(log.segmentFiles().length).toBeGreaterThan(2);
    // Closed while an fdatasync is out: the file stays open under it, and is closed once it is over.
    log.append([entryFor(61)]);
    log.setHardState({ term: 2, vote: 1, commit: 61 });
    const last = synced();
    log.close();
    expect(await last).toBeUndefined();
    const again = FileLog.open(dir);
    expect(again.lastIndex()).toBe(61);
    expect(again.hardState()).toEqual({ term: 2, vote: 1, commit: 61 });
    expectEntries(again, 1, 61);
    again.close();
  });

  it('resetTo drops the whole log for an installed snapshot', () => {
    const log = FileLog.open(dir);
    log.append([1, 2, 3].map(entryFor));
    log.resetTo(50);
    log.append([entryFor(51)]);
    log.sync();
    log.close();
    const again = FileLog.open(dir);
    expect([again.firstIndex(), again.lastIndex()]).toEqual([51, 51]);
    again.close();
  });

  it('cutting the file at any offset recovers exactly the records that fit, and never invents one', () => {
    const seed = 4242;
    const prng = new Prng(seed);
    const log = FileLog.open(dir);
    const file = log.segmentFiles()[0]!;
    const boundaries: { size: number; last: number }[] = [{ size: fs.statSync(file).size, last: 0 }];
    let next = 1;
    for (let b = 0; b < 60; b++) {
      const batch = [];
      for (let i = 1 + prng.int(5); i > 0; i--) batch.push(entryFor(next++));
      log.append(batch);
      log.sync();
      boundaries.push({ size: fs.statSync(file).size, last: next - 1 });
    }
    log.close();
    const full = fs.readFileSync(file);
    for (let trial = 0; trial < 150; trial++) {
      const cut = prng.int(full.length + 1);
      const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'raft-cut-'));
      try {
        fs.writeFileSync(path.join(copy, path.basename(file)), full.subarray(0, cut));
        const rec = FileLog.open(copy);
        const syncedBefore = boundaries.filter((b) => b.size <= cut).pop()!.last;
        // Never loses what was synced before the cut, never has more than was written.
        expect(rec.lastIndex(), `seed ${seed} cut ${cut}`).toBeGreaterThanOrEqual(syncedBefore);
        expect(rec.lastIndex()).toBeLessThan(next);
        expectEntries(rec, 1, rec.lastIndex());
        rec.close();
        // Recovery cut the torn tail, so a second recovery is clean and equal.
        const again = FileLog.open(copy);
        expect(again.truncatedTail).toBeUndefined();
        expect(again.lastIndex()).toBe(rec.lastIndex());
        again.close();
      } finally {
        fs.rmSync(copy, { recursive: true, force: true });
      }
    }
  });

  it('refuses to start on corruption before the tail, naming file and offset', () => {
    const log = FileLog.open(dir);
    for (let i = 1; i <= 10; i++) log.append([entryFor(i)]);
    log.sync();
    const file = log.segmentFiles()[0]!;
    log.close();
    const buf = fs.readFileSync(file);
    // Find the third entry record by walking the framing, and flip a payload byte.
    let at = 0;
    const starts: number[] = [];
    while (at < buf.length) {
      starts.push(at);
      at += 9 + buf.readUInt32LE(at);
    }
    const victim = starts[4]!; // header has 2 records, so this is entry 3
    buf[victim + 20] = buf[victim + 20]! ^ 0xff;
    fs.writeFileSync(file, buf);
    let err: unknown;
    try {
      FileLog.open(dir);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CorruptLogError);
    expect((err as CorruptLogError).file).toBe(file);
    expect((err as CorruptLogError).offset).toBe(victim);
    expect((err as Error).message).toContain(`${file} at byte offset ${victim}`);
  });

  it('survives SIGKILL at random points: every index reported synced is recovered intact', async () => {
    const seed = 20261126;
    const prng = new Prng(seed);
    const child = path.join(import.meta.dirname, 'crash-child.ts');
    let lastReported = 0;
    for (let round = 0; round < 6; round++) {
      const killAfter = 1 + prng.int(60);
      lastReported = Math.max(lastReported, await runAndKill(child, dir, seed + round, killAfter));
      const log = FileLog.open(dir, { segment_bytes: 16 << 10, max_unsynced_bytes: 16 << 20 });
      expect(log.lastIndex(), `seed ${seed} round ${round}`).toBeGreaterThanOrEqual(lastReported);
      expect(log.hardState().term).toBeGreaterThanOrEqual(lastReported);
      expectEntries(log, log.firstIndex(), log.lastIndex());
      lastReported = log.lastIndex();
      log.close();
    }
    expect(lastReported).toBeGreaterThan(100); // the child really made progress between kills
  }, 60_000);
});

/** Runs the child until it has reported `killAfter` syncs, SIGKILLs it, returns the last report. */
function runAndKill(child: string, dir: string, seed: number, killAfter: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', child, dir, String(seed)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let reports = 0;
    let last = 0;
    let buffered = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        const m = /^synced (\d+)$/.exec(line);
        if (!m) continue;
        last = Number(m[1]);
        if (++reports === killAfter) proc.kill('SIGKILL');
      }
    });
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    proc.on('error', reject);
    proc.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve(last);
      else reject(new Error(`child exited with ${code}: ${stderr}`));
    });
  });
}

describe('FileSnapshotStore', () => {
  it('saves atomically, reloads the newest, removes older ones and leftover temp files', () => {
    const store = new FileSnapshotStore(dir);
    expect(store.latest()).toBeUndefined();
    const meta = (index: number) => ({ index, term: 2, membership: { voters: [1, 2, 3], learners: [4] } });
    store.save({ meta: meta(10), data: new Uint8Array([1, 2, 3]) });
    store.save({ meta: meta(20), data: new Uint8Array([4, 5]) });
    fs.writeFileSync(path.join(dir, 'snap-0000000000000030.snap.tmp'), 'half-written');
    const again = new FileSnapshotStore(dir);
    expect(again.latest()).toEqual({ meta: meta(20), data: new Uint8Array([4, 5]) });
    expect(fs.readdirSync(dir)).toEqual(['snap-0000000000000020.snap']);
  });

  it('reports a corrupt snapshot file by name', () => {
    const store = new FileSnapshotStore(dir);
    store.save({ meta: { index: 5, term: 1, membership: { voters: [1], learners: [] } }, data: new Uint8Array(100) });
    const file = path.join(dir, 'snap-0000000000000005.snap');
    const buf = fs.readFileSync(file);
    buf[buf.length - 1] = 7;
    fs.writeFileSync(file, buf);
    expect(() => new FileSnapshotStore(dir)).toThrow(file);
  });
});
