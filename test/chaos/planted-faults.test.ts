import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';

/** The seams src/faults/planted.ts hands to the components, without processes. */
let dir = '';
afterEach(() => {
  vi.resetModules();
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

async function hooks() {
  vi.resetModules();
  return import('../../src/faults/planted.js');
}

describe('planted faults', () => {
  it('cuts the log back to the last synced offset and drops later segments', async () => {
    const { noteSynced, cutToSynced } = await hooks();
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
    const { noteSynced, cutToSynced } = await hooks();
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

  it('hands out the production seams when ECOM_TEST_FAULTS is unset or names other faults', async () => {
    const { plantedFromEnvironment, PlantedFaults } = await hooks();
    const { FDATASYNC } = await import('../../src/raft/log/file-log.js');
    expect(plantedFromEnvironment({})).toBeUndefined();
    expect(plantedFromEnvironment({ ECOM_TEST_FAULTS: ' ' })).toBeUndefined();
    const other = new PlantedFaults('mqtt-skip-state-transfer');
    expect(other.logDisk('/nowhere')).toBe(FDATASYNC);
    expect(other.commitQuorum()).toBeUndefined();
    expect(other.cacheSeams()).toEqual({ hearsFeedState: true });
  });

  it('lose-unsynced-on-crash: the disk notes each real sync, and opening cuts back to it', async () => {
    const { PlantedFaults } = await hooks();
    dir = mkdtempSync(join(tmpdir(), 'ecom-faults-'));
    const faults = new PlantedFaults('lose-unsynced-on-crash');
    const file = join(dir, 'wal-0000000000000001.log');
    writeFileSync(file, Buffer.alloc(30, 1));
    const fd = openSync(file, 'r+');
    faults.logDisk(dir).sync(fd, file, 30);
    closeSync(fd);
    writeFileSync(file, Buffer.alloc(50, 1));
    faults.beforeLogOpen(dir);
    expect(statSync(file).size).toBe(30);
  });

  it('skip-commit-check and cache-ignores-bound: a quorum of one, a clock that stands still', async () => {
    const faults = new (await hooks()).PlantedFaults('skip-commit-check,cache-ignores-bound');
    expect(faults.commitQuorum()?.(3)).toBe(1);
    const cache = faults.cacheSeams();
    expect(cache.hearsFeedState).toBe(false);
    expect(cache.now?.()).toBe(cache.now?.());
  });

  it('refuses an unknown fault name', async () => {
    const { PlantedFaults } = await hooks();
    expect(() => new PlantedFaults('ack-before-fsync,typo')).toThrow(/unknown fault "typo"/);
  });
});
