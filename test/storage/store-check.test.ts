import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import { afterEach, describe, expect, it } from 'vitest';
import { APPLIED_KEY } from '../../src/storage/replica/lmdb-store.js';
import { checkStore, checkStoreSync, startCheck } from '../../src/storage/replica/store-check.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function store(keys: number): Promise<string> {
  const path = mkdtempSync(join(tmpdir(), 'ecom-check-'));
  dirs.push(path);
  const db = open({ path, compression: false, encoding: 'msgpack' });
  await db.transaction(() => {
    for (let i = 0; i < keys; i++) void db.put(`client/${i}`, { name: `n${i}` });
    void db.put(APPLIED_KEY, 4_321);
  });
  await db.close();
  return path;
}

/** A store's read-through in a child process (store-check.ts), started ahead of its store or not. */
describe('checking a store in a child process', () => {
  it('counts the keys and reads the applied index, walking keys only or values too, started ahead or not', async () => {
    const path = await store(2_000);
    const expected = { ok: true, contents: { keys: 2_001, applied: 4_321 } };
    expect(await checkStore(path, { values: false, timeout_ms: 30_000 })).toEqual(expected);
    expect(checkStoreSync(path, { values: true, timeout_ms: 30_000 })).toEqual(expected);
    const pending = startCheck({ values: false, timeout_ms: 30_000 });
    expect(await pending.run(path)).toEqual(expected);
    expect(() => pending.run(path)).toThrow(/once/);
  });

  it('says what is wrong with a file that is not a store, or a check that runs out of time', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ecom-check-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'data.mdb'), Buffer.alloc(64 << 10, 0x5a));
    const bad = await checkStore(dir, { values: false, timeout_ms: 30_000 });
    expect(bad.ok).toBe(false);
    expect(await checkStore(await store(10), { values: false, timeout_ms: 1 })).toEqual({ ok: false, problem: 'reading it took over 1 ms' });
  });

  it('ends a child started ahead for a store that never came', async () => {
    const pending = startCheck({ values: false, timeout_ms: 30_000 });
    pending.cancel();
    // Run after cancel: the child is gone, so the check fails at once rather than hanging.
    const result = await pending.run('/nonexistent');
    expect(result.ok).toBe(false);
  });
});
