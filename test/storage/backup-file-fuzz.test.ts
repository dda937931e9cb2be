import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BACKUP_FORMAT, BACKUP_VERSION, BACKUP_VERSION_1, stateChecksum, type BackupFile } from '../../src/storage/common/backup-format.js';
import { defaultTopology } from '../../src/storage/common/topology.js';
import { BackupFileWriter, openBackup } from '../../src/storage/replica/backup-file.js';
import { restoreBackup } from '../../src/storage/replica/restore.js';
import { CopyWriter, LEGACY_JSON_FORMAT } from '../../src/storage/replica/snapshot-format.js';
import { Prng } from '../../src/util/random.js';
import { mutate } from '../helpers/mutate.js';
import { testSeed } from '../helpers/seed.js';

/**
 * A backup file is input a user can damage or edit (docs/spec.md R-CLI-12): flipped bytes, a
 * cut, a changed field must be refused with a sentence that says what is wrong, and a refused
 * restore leaves no replica folder behind; only an intact file restores. Both versions: 2, which
 * `ecom backup` writes, and 1, which older builds wrote.
 */
const work = mkdtempSync(join(tmpdir(), 'ecom-backup-fuzz-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function records(p: number): Array<[string, unknown]> {
  return [
    ['m/time', 1000 + p],
    [`r/client/${p + 2}`, { kind: 'client', name: `c${p} é`, orderCount: 0, lastSeq: 0 }],
    [`r/product/${p + 10}`, { kind: 'product', name: 'Caneta', price: '2.50', quantity: 8, orderRefs: 0 }],
  ];
}

function version1(): string {
  const state = (p: number) => JSON.stringify({ format: LEGACY_JSON_FORMAT, entries: records(p) });
  const file: BackupFile = {
    format: BACKUP_FORMAT,
    version: BACKUP_VERSION_1,
    created: '2026-12-04T06:00:00.000Z',
    partitions: [0, 1].map((p) => ({ partition: p, index: 40 + p, term: 2, voters: p === 0 ? [1, 2, 3] : [4, 5, 6], state: state(p), sha256: stateChecksum(state(p)) })),
  };
  return JSON.stringify(file);
}

/** A version 2 file as `ecom backup` writes it, each copy as a leader makes it. */
function version2(path: string): Buffer {
  const out = new BackupFileWriter(path, { format: BACKUP_FORMAT, version: BACKUP_VERSION, created: '2026-12-07T01:00:00.000Z', partitions: 2 });
  for (const p of [0, 1]) {
    const pieces: Buffer[] = [];
    const writer = new CopyWriter(40 + p, (piece) => pieces.push(Buffer.from(piece)));
    for (const [key, value] of records(p)) writer.add(key, value);
    const copy = Buffer.concat(pieces);
    out.startPart({ partition: p, index: 40 + p, term: 2, voters: p === 0 ? [1, 2, 3] : [4, 5, 6], bytes: copy.length, keys: writer.keys });
    // In two pieces, as they come off the wire.
    out.write(copy.subarray(0, 7));
    out.write(copy.subarray(7));
    out.endPart();
  }
  out.finish();
  return readFileSync(path);
}

/** What `ecom restore` does with a file: open and check it, then write; an Error with a message is a refusal. */
async function restoreFile(path: string, dir: string): Promise<string> {
  try {
    await restoreBackup(openBackup(path), defaultTopology(), dir);
    return 'restored';
  } catch (err) {
    expect(err).toBeInstanceOf(Error);
    // A refusal says what is wrong, with nothing half written: no replica folder is left.
    expect(existsSync(dir), `${(err as Error).message}: ${dir} was left behind`).toBe(false);
    return (err as Error).message;
  }
}

const WEIRD: unknown[] = [null, -1, 0, 1.5, '', 'x', [], {}, 2 ** 60, true];

/** A copy of `text` with one of three kinds of damage: a flipped bit, a cut, or a JSON field changed (version 1) / a line changed (version 2). */
function damage(r: Prng, bytes: Buffer, version: number): Buffer {
  const how = r.int(3);
  if (how === 0) {
    const out = Buffer.from(bytes);
    const at = r.int(out.length);
    out[at] = out[at]! ^ (1 << r.int(8));
    return out;
  }
  if (how === 1) return bytes.subarray(0, r.int(bytes.length));
  if (version === 1) return Buffer.from(JSON.stringify(mutate(JSON.parse(bytes.toString('utf8')), r, WEIRD)));
  // Version 2: one of its JSON lines (the header, a preamble or a checksum) mutated, the bytes around it kept.
  const lines: Array<[number, number]> = [];
  for (let start = 0; start < bytes.length; ) {
    const end = bytes.indexOf(0x0a, start);
    if (end < 0) break;
    const text = bytes.subarray(start, end).toString('utf8');
    if (text.startsWith('{"')) lines.push([start, end]);
    start = end + 1;
  }
  const [start, end] = r.pick(lines);
  let edited: unknown;
  try {
    edited = mutate(JSON.parse(bytes.subarray(start, end).toString('utf8')), r, WEIRD);
  } catch {
    return bytes;
  }
  return Buffer.concat([bytes.subarray(0, start), Buffer.from(JSON.stringify(edited)), bytes.subarray(end)]);
}

describe('a damaged backup file', () => {
  for (const version of [BACKUP_VERSION_1, BACKUP_VERSION]) {
    it(`of version ${version} is refused with a reason, never crashes the restore, and an intact one restores`, async () => {
      const r = new Prng(testSeed(`backup file fuzz v${version}`));
      const intactPath = join(work, `intact-v${version}.backup`);
      const intact = version === 1 ? Buffer.from(version1()) : version2(intactPath);
      writeFileSync(intactPath, intact);
      expect(await restoreFile(intactPath, join(work, `intact-v${version}`))).toBe('restored');
      let refused = 0;
      const tries = 300;
      for (let n = 0; n < tries; n++) {
        const path = join(work, `try-v${version}-${n}.backup`);
        writeFileSync(path, damage(r, intact, version));
        const outcome = await restoreFile(path, join(work, `try-v${version}-${n}`));
        if (outcome !== 'restored') {
          refused++;
          expect(outcome.length, `mutation ${n}`).toBeGreaterThan(10);
        }
      }
      // Nearly every change is caught; a flip in `created`, a smaller index or other voters is not an error.
      expect(refused).toBeGreaterThan(tries * 0.6);
    });
  }

  it('of version 2 is refused for any flipped byte in a copy: its checksum', async () => {
    const r = new Prng(testSeed('backup file v2 copy flips'));
    const intact = version2(join(work, 'flips.backup'));
    const firstCopy = intact.indexOf(0x0a, intact.indexOf(0x0a) + 1) + 1;
    for (let n = 0; n < 40; n++) {
      const out = Buffer.from(intact);
      const at = firstCopy + r.int(20);
      out[at] = out[at]! ^ (1 << r.int(8));
      const path = join(work, `flip-${n}.backup`);
      writeFileSync(path, out);
      expect(await restoreFile(path, join(work, `flip-${n}`))).toContain("partition 0's copy does not match its checksum");
    }
  });
});
