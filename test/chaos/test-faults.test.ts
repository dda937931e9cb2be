import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';

/** The lose-unsynced-on-crash hook itself, without processes: what it keeps and what it cuts. */
let dir = '';
afterEach(() => {
  vi.unstubAllEnvs();
  vi.resetModules();
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

async function hooks(faults: string) {
  vi.stubEnv('ECOM_TEST_FAULTS', faults);
  vi.resetModules();
  return import('../../src/raft/test-faults.js');
}

describe('test fault hooks', () => {
  it('cuts the log back to the last synced offset and drops later segments', async () => {
    const { noteSynced, cutToSynced } = await hooks('lose-unsynced-on-crash');
    dir = mkdtempSync(join(tmpdir(), 'ecom-faults-'));
    const first = join(dir, 'wal-0000000000000001.log');
    writeFileSync(first, Buffer.alloc(100, 1));
    noteSynced(dir, first, 60);
    writeFileSync(join(dir, 'wal-0000000000000002.log'), Buffer.alloc(10, 2));
    cutToSynced(dir);
    expect(statSync(first).size).toBe(60);
    expect(existsSync(join(dir, 'wal-0000000000000002.log'))).toBe(false);
  });

  // Regression: the marker was written in place, so a kill -9 during the write left an empty
  // synced.json and the replica could never start again ("Unexpected end of JSON input").
  it('marker written mid-kill: a half-written marker never replaces the last good one', async () => {
    let killDuringWrite = false;
    vi.doMock('node:fs', async (original) => {
      const real = await original<typeof import('node:fs')>();
      return {
        ...real,
        // A kill -9 in the middle of writeFileSync: the file is created empty, nothing else happens.
        writeFileSync: (...args: Parameters<typeof real.writeFileSync>) => {
          if (!killDuringWrite) return real.writeFileSync(...args);
          real.writeFileSync(args[0], '');
          throw new Error('killed');
        },
      };
    });
    const { noteSynced, cutToSynced } = await hooks('lose-unsynced-on-crash');
    dir = mkdtempSync(join(tmpdir(), 'ecom-faults-'));
    const first = join(dir, 'wal-0000000000000001.log');
    writeFileSync(first, Buffer.alloc(100, 1));
    noteSynced(dir, first, 80);
    killDuringWrite = true;
    expect(() => noteSynced(dir, first, 90)).toThrow('killed');
    killDuringWrite = false;
    vi.doUnmock('node:fs');
    expect(JSON.parse(readFileSync(join(dir, 'synced.json'), 'utf8'))).toEqual({ file: 'wal-0000000000000001.log', size_bytes: 80 });
    expect(() => cutToSynced(dir)).not.toThrow();
    expect(statSync(first).size).toBe(80);
  });

  it('does nothing when ECOM_TEST_FAULTS is unset (production)', async () => {
    const { noteSynced, cutToSynced, skipFsync, testFaultOn } = await hooks('');
    dir = mkdtempSync(join(tmpdir(), 'ecom-faults-'));
    const first = join(dir, 'wal-0000000000000001.log');
    writeFileSync(first, Buffer.alloc(100, 1));
    noteSynced(dir, first, 10);
    cutToSynced(dir);
    expect(existsSync(join(dir, 'synced.json'))).toBe(false);
    expect(statSync(first).size).toBe(100);
    expect(skipFsync()).toBe(false);
    expect(testFaultOn('skip-commit-check')).toBe(false);
  });

  it('refuses an unknown fault name', async () => {
    await expect(hooks('ack-before-fsync,typo')).rejects.toThrow(/unknown fault "typo"/);
  });
});
