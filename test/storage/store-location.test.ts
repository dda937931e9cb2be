import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { currentStoreName, FIRST_STORE, makeCurrent, removeStoresBut, StoreLocationError } from '../../src/storage/replica/store-location.js';

/** Which folder holds a replica's state store, after store files from a leader were installed (issue #18 item 5). */
describe('the state store location', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('is `state` until a store file is made current, then the folder the pointer names', () => {
    dir = mkdtempSync(join(tmpdir(), 'ecom-store-location-'));
    expect(currentStoreName(dir)).toBe(FIRST_STORE);
    makeCurrent(dir, 'state-0000000000005001');
    expect(currentStoreName(dir)).toBe('state-0000000000005001');
    expect(readdirSync(dir)).toEqual(['state.current']);
  });

  it('refuses a pointer that names no store folder, saying what to do', () => {
    dir = mkdtempSync(join(tmpdir(), 'ecom-store-location-'));
    for (const bad of ['../../etc', 'state-12', 'state-0000000000005001-copy', '']) {
      writeFileSync(join(dir, 'state.current'), `${bad}\n`);
      expect(() => currentStoreName(dir!)).toThrow(StoreLocationError);
      expect(() => currentStoreName(dir!)).toThrow(/ecom member remove/);
    }
  });

  it('removes the store folders it is not told to keep, and nothing else', () => {
    dir = mkdtempSync(join(tmpdir(), 'ecom-store-location-'));
    for (const name of ['state', 'state-0000000000000010', 'state-0000000000000020', 'state-copy', 'state-0000000000000010-copy', 'raft', 'snapshots', 'state-notes']) mkdirSync(join(dir, name));
    writeFileSync(join(dir, 'state.boot'), 'x');
    removeStoresBut(dir, new Set(['state-0000000000000020']));
    expect(readdirSync(dir).sort()).toEqual(['raft', 'snapshots', 'state-0000000000000020', 'state-notes', 'state.boot']);
    expect(existsSync(join(dir, 'state'))).toBe(false);
  });
});
