import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BACKUP_FORMAT, BACKUP_VERSION, backupProblem, stateChecksum, type BackupFile } from '../../src/storage/common/backup-format.js';
import { defaultTopology } from '../../src/storage/common/topology.js';
import { restoreBackup } from '../../src/storage/replica/restore.js';
import { LEGACY_JSON_FORMAT } from '../../src/storage/replica/snapshot-format.js';
import { Prng } from '../../src/util/random.js';
import { mutate } from '../helpers/mutate.js';
import { testSeed } from '../helpers/seed.js';

/**
 * A backup file is input a user can damage or edit (docs/spec.md R-CLI-12): flipped bytes, a
 * cut, a changed field must be refused with a sentence that says what is wrong, before any
 * replica folder is written; only an intact file restores.
 */
const work = mkdtempSync(join(tmpdir(), 'ecom-backup-fuzz-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function validBackup(): BackupFile {
  const state = (p: number) => JSON.stringify({ format: LEGACY_JSON_FORMAT, entries: [[`r/client/${p + 2}`, { kind: 'client', name: `c${p}`, orderCount: 0, lastSeq: 0 }], ['m/time', 1000]] });
  return {
    format: BACKUP_FORMAT,
    version: BACKUP_VERSION,
    created: '2026-12-04T06:00:00.000Z',
    partitions: [0, 1].map((p) => ({ partition: p, index: 40 + p, term: 2, voters: p === 0 ? [1, 2, 3] : [4, 5, 6], state: state(p), sha256: stateChecksum(state(p)) })),
  };
}

/** What the restore command does with a file's text: parse, check, write; an Error with a message is a refusal. */
function restoreText(text: string, dir: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return `not JSON: ${(err as Error).message}`;
  }
  const problem = backupProblem(parsed);
  if (problem !== undefined) return problem;
  restoreBackup(parsed as BackupFile, defaultTopology(), dir);
  return 'restored';
}

const WEIRD: unknown[] = [null, -1, 0, 1.5, '', 'x', [], {}, 2 ** 60, true];

describe('a damaged backup file', () => {
  it('is refused with a reason, never crashes the restore, and an intact one restores', () => {
    const r = new Prng(testSeed('backup file fuzz'));
    const intact = JSON.stringify(validBackup());
    expect(restoreText(intact, join(work, 'intact'))).toBe('restored');
    let refused = 0;
    for (let n = 0; n < 300; n++) {
      let text: string;
      const how = r.int(3);
      if (how === 0) {
        const bytes = Buffer.from(intact);
        const at = r.int(bytes.length);
        bytes[at] = bytes[at]! ^ (1 << r.int(7));
        text = bytes.toString('utf8');
      } else if (how === 1) {
        text = intact.slice(0, r.int(intact.length));
      } else {
        text = JSON.stringify(mutate(JSON.parse(intact), r, WEIRD));
      }
      let outcome: string;
      try {
        outcome = restoreText(text, join(work, `try-${n}`));
      } catch (err) {
        // A refusal from restore itself (partition count, a damaged state) is an Error with a sentence.
        expect(err, `mutation ${n}`).toBeInstanceOf(Error);
        expect((err as Error).constructor.name, `mutation ${n}: ${(err as Error).message}`).toBe('Error');
        outcome = (err as Error).message;
      }
      if (outcome !== 'restored') {
        refused++;
        expect(outcome.length, `mutation ${n}`).toBeGreaterThan(10);
      }
    }
    // Nearly every change is caught; a flip in `created` or a smaller index is not an error.
    expect(refused).toBeGreaterThan(200);
  });
});
