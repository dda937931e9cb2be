import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CorruptLogError, FileLog } from '../../../src/raft/log/file-log.js';
import { CorruptSnapshotError, FileSnapshotStore } from '../../../src/raft/log/file-snapshot.js';
import { Prng } from '../../../src/util/random.js';
import { testSeed } from '../../helpers/seed.js';
import { entryFor } from './content.js';

/**
 * Seeded damage to the files a replica recovers from (issue #13 item 2): flipped bytes and cut
 * files in the write-ahead log's segments and in snapshot files. Recovery must either succeed
 * with exactly the entries written (a torn tail may lose the last ones, nothing else changes)
 * or refuse with an error that names the file; never another exception, never wrong data.
 */
const ROUNDS = 60;
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function freshLog(entries: number): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raft-fuzz-'));
  dirs.push(dir);
  const log = FileLog.open(dir, { segment_bytes: 8 << 10, max_unsynced_bytes: 16 << 20 });
  for (let i = 1; i <= entries; i += 10) {
    log.append(Array.from({ length: Math.min(10, entries - i + 1) }, (_, k) => entryFor(i + k)));
    log.setHardState({ term: 1 + Math.floor(i / 100), vote: 1, commit: i });
    log.sync();
  }
  log.close();
  return dir;
}

function damage(file: string, r: Prng): string {
  const bytes = fs.readFileSync(file);
  if (bytes.length === 0) return 'empty file left as is';
  if (r.chance(0.4)) {
    const at = r.int(bytes.length);
    fs.truncateSync(file, at);
    return `cut at ${at} of ${bytes.length}`;
  }
  const flips = 1 + r.int(3);
  for (let i = 0; i < flips; i++) {
    const at = r.int(bytes.length);
    bytes[at] = bytes[at]! ^ (1 << r.int(8));
  }
  fs.writeFileSync(file, bytes);
  return `${flips} bit(s) flipped`;
}

describe('damaged recovery files', () => {
  it('the log: a recovered prefix of exactly what was written, or CorruptLogError naming the file', () => {
    const seed = testSeed('fuzz damaged log files');
    const r = new Prng(seed);
    const outcomes = { recovered: 0, refused: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      const written = 50 + r.int(200);
      const dir = freshLog(written);
      const segments = fs.readdirSync(dir).filter((n) => n.endsWith('.log'));
      const victim = path.join(dir, r.pick(segments));
      const how = damage(victim, r);
      let log: FileLog;
      try {
        log = FileLog.open(dir);
      } catch (err) {
        expect(err, `round ${round} (${how}): ${(err as Error).message}`).toBeInstanceOf(CorruptLogError);
        expect((err as Error).message).toContain(path.basename(victim));
        outcomes.refused++;
        continue;
      }
      expect(log.lastIndex(), `round ${round} (${how})`).toBeLessThanOrEqual(written);
      for (let i = log.firstIndex(); i <= log.lastIndex(); i++) expect(log.entries(i, i)[0], `round ${round} (${how}) entry ${i}`).toEqual(entryFor(i));
      log.close();
      outcomes.recovered++;
    }
    console.log(`damaged logs: ${outcomes.recovered} recovered a prefix, ${outcomes.refused} refused with the file named`);
  });

  it('snapshots: the snapshot as written, or CorruptSnapshotError naming the file', () => {
    const seed = testSeed('fuzz damaged snapshot files');
    const r = new Prng(seed);
    for (let round = 0; round < ROUNDS; round++) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raft-fuzz-snap-'));
      dirs.push(dir);
      const data = new Uint8Array(1 + r.int(4_000)).map((_, i) => (i * 13 + round) & 0xff);
      const snapshot = { meta: { index: 10 + round, term: 2, membership: { voters: [1, 2, 3], learners: [] } }, data };
      new FileSnapshotStore(dir).save(snapshot);
      const file = path.join(dir, fs.readdirSync(dir)[0]!);
      const how = damage(file, r);
      let store: FileSnapshotStore;
      try {
        store = new FileSnapshotStore(dir);
      } catch (err) {
        expect(err, `round ${round} (${how}): ${(err as Error).message}`).toBeInstanceOf(CorruptSnapshotError);
        expect((err as Error).message).toContain(path.basename(file));
        continue;
      }
      expect(store.latest(), `round ${round} (${how})`).toEqual(snapshot);
    }
  });
});
