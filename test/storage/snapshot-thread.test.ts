import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LmdbStateStore } from '../../src/storage/replica/lmdb-store.js';
import { readCopy, readEnvCopy, shapeOf } from '../../src/storage/replica/snapshot-format.js';
import { SnapshotThread } from '../../src/storage/replica/snapshot-thread.js';
import { defined } from '../../src/util/assert.js';
import { Prng } from '../../src/util/random.js';
import { testSeed } from '../helpers/seed.js';

/** The snapshot worker's copies for a follower, on a real LMDB store (issue #18 item 5). */
describe('the snapshot worker', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('sends the store file, or a record copy when the file is over the bound; both hold the same state', async () => {
    dir = mkdtempSync(join(tmpdir(), 'ecom-snapshot-thread-'));
    const r = new Prng(testSeed('snapshot worker copies'));
    const store = new LmdbStateStore(join(dir, 'state'));
    const state = new Map<string, unknown>();
    for (let batch = 0; batch < 20; batch++) {
      store.applyBatch(batch + 1, () => {
        for (let i = 0; i < 100; i++) {
          const key = `r/client/${r.int(1e9)}`;
          const value = { name: `client ${r.int(1e6)}`, orders: r.int(50) };
          state.set(key, value);
          store.put(key, value);
        }
      });
    }
    const thread = new SnapshotThread(store.path);
    try {
      const file = await thread.copy({ kind: 'copy', maxFileBytes: 1 << 30 });
      expect(shapeOf(file.data)).toBe('env');
      // The reply names the file on disk; its header and the file read back as one store file's data.
      const onDisk = defined(file.file, 'the copy\'s file');
      const bytes = readFileSync(onDisk.path);
      expect(bytes.length).toBe(onDisk.bytes);
      const { applied } = await readEnvCopy(Buffer.concat([file.data, bytes]));
      expect(applied).toBe(20);
      expect(file.keys).toBe(state.size);
      // The file is an LMDB store holding exactly the state.
      mkdirSync(join(dir, 'received'));
      writeFileSync(join(dir, 'received', 'data.mdb'), bytes);
      const received = new LmdbStateStore(join(dir, 'received'));
      expect(received.lastApplied).toBe(20);
      expect(new Map(received.range('r/'))).toEqual(state);
      await received.close();

      const records = await thread.copy({ kind: 'copy', maxFileBytes: bytes.length - 1 });
      // A record copy is all in its file: the message itself carries none of it.
      expect(records.data.length).toBe(0);
      const copied = readFileSync(defined(records.file, 'the record copy\'s file').path);
      expect(copied.length).toBe(records.file?.bytes);
      expect(shapeOf(copied)).toBe('copy');
      const read = new Map<string, unknown>();
      expect(readCopy(copied, (key, value) => read.set(key, value))).toEqual({ applied: 20, keys: state.size });
      expect(read).toEqual(state);
      expect(copied.length).toBeLessThan(bytes.length);
    } finally {
      await thread.close();
      await store.close();
    }
  });
});
