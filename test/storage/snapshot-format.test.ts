import { describe, expect, it } from 'vitest';
import { CopyReader, CopyWriter, envCopy, readCopy, readEnvCopy, readLegacyJson, shapeOf, SnapshotDataError, stagedName, stagedStore, stageName, storeMarker } from '../../src/storage/replica/snapshot-format.js';
import { Prng } from '../../src/util/random.js';
import { testSeed } from '../helpers/seed.js';

function randomState(rng: Prng, keys: number): Map<string, unknown> {
  const state = new Map<string, unknown>();
  for (let i = 0; i < keys; i++) {
    const value = rng.int(3) === 0 ? rng.int(1_000_000) : { name: `client ${rng.int(1e9)} é ✓`, orderCount: rng.int(50), items: [rng.int(9), null, true] };
    state.set(`r/client/${rng.int(1e9)}-${i}`, value);
  }
  return state;
}

function copyOf(state: Map<string, unknown>, applied: number): Uint8Array {
  const pieces: Buffer[] = [];
  const writer = new CopyWriter(applied, (piece) => pieces.push(Buffer.from(piece)));
  for (const [key, value] of state) writer.add(key, value);
  return Buffer.concat(pieces);
}

function envOf(file: Uint8Array, applied: number): Uint8Array {
  return envCopy(applied, file);
}

/** Decodes `data` as a copy; answers the state read, or the refusal. */
function decode(data: Uint8Array): Map<string, unknown> | SnapshotDataError {
  const read = new Map<string, unknown>();
  try {
    readCopy(data, (key, value) => read.set(key, value));
    return read;
  } catch (err) {
    if (err instanceof SnapshotDataError) return err;
    throw err;
  }
}

/** The snapshot data a replica sends and receives (issue #18 item 1). */
describe('snapshot data', () => {
  it('tells a marker, a staged store, a store file, a copy and format 1 JSON apart, and refuses anything else', () => {
    expect(shapeOf(storeMarker())).toBe('marker');
    expect(shapeOf(stagedStore(stageName(12)))).toBe('staged');
    expect(stagedName(stagedStore(stageName(12)))).toBe('state-0000000000000012');
    expect(() => stagedStore('../elsewhere')).toThrow(SnapshotDataError);
    expect(shapeOf(envOf(new Uint8Array(5), 3))).toBe('env');
    expect(shapeOf(copyOf(new Map(), 3))).toBe('copy');
    expect(shapeOf(new TextEncoder().encode('{"format":1,"entries":[]}'))).toBe('legacy-json');
    expect(() => shapeOf(new Uint8Array([1, 2, 3]))).toThrow(SnapshotDataError);
    expect(() => shapeOf(new Uint8Array(0))).toThrow(SnapshotDataError);
    expect(readLegacyJson(new TextEncoder().encode('{"format":1,"entries":[["a",1]]}'))).toEqual([['a', 1]]);
    expect(() => readLegacyJson(new TextEncoder().encode('{"format":2,"entries":[]}'))).toThrow(/format 2/);
  });

  it('reads back a copy exactly: its applied index and every key and value, in order', () => {
    const rng = new Prng(testSeed('snapshot copy round trip'));
    for (let round = 0; round < 20; round++) {
      const state = randomState(rng, rng.int(500));
      const applied = rng.int(1e9);
      const read = new Map<string, unknown>();
      expect(readCopy(copyOf(state, applied), (key, value) => read.set(key, value))).toEqual({ applied, keys: state.size });
      expect([...read]).toEqual([...state]);
    }
  });

  it('reads a copy that comes in pieces of any size as it reads the whole, and never more than a prefix of a cut one', () => {
    const rng = new Prng(testSeed('snapshot copy in pieces'));
    for (let round = 0; round < 60; round++) {
      const state = randomState(rng, rng.int(300));
      const applied = rng.int(1e9);
      const data = copyOf(state, applied);
      const read: Array<[string, unknown]> = [];
      const reader = new CopyReader((key, value) => read.push([key, value]));
      // Pieces from 1 byte (every item split) to more than the whole copy.
      const most = 1 + rng.int(rng.chance(0.3) ? 8 : data.length + 1);
      for (let at = 0; at < data.length; ) {
        const n = 1 + rng.int(most);
        reader.push(data.subarray(at, at + n));
        at += n;
      }
      expect(reader.end()).toEqual({ applied, keys: state.size });
      expect(read).toEqual([...state]);
      // The same copy cut short: refused inside an item; cut between two records it is a shorter
      // copy (the format carries no count: a backup's preamble and a transfer's length do).
      const cutAt = rng.int(data.length);
      const prefix: Array<[string, unknown]> = [];
      const cut = new CopyReader((key, value) => prefix.push([key, value]));
      try {
        cut.push(data.subarray(0, cutAt));
        expect(cut.end().keys, `cut at ${cutAt} of ${data.length}`).toBeLessThan(Math.max(1, state.size));
        expect(prefix).toEqual([...state].slice(0, prefix.length));
      } catch (err) {
        expect(err, `cut at ${cutAt} of ${data.length}`).toBeInstanceOf(SnapshotDataError);
      }
    }
  });

  it('refuses a damaged copy with a SnapshotDataError, never a crash or a key that is not a string', () => {
    const rng = new Prng(testSeed('snapshot copy fuzz'));
    const base = copyOf(randomState(rng, 40), 77);
    for (let round = 0; round < 3_000; round++) {
      const data = Uint8Array.from(base);
      const damage = rng.int(3);
      let damaged: Uint8Array = data;
      if (damage === 0) damaged = data.subarray(0, 1 + rng.int(data.length - 1));
      else if (damage === 1) for (let i = 0; i <= rng.int(8); i++) data[6 + rng.int(data.length - 6)] = rng.int(256);
      else damaged = Uint8Array.from([...data.subarray(0, 6), ...Array.from({ length: rng.int(200) }, () => rng.int(256))]);
      const outcome = decode(damaged);
      if (outcome instanceof SnapshotDataError) continue;
      for (const key of outcome.keys()) expect(typeof key).toBe('string');
    }
  });

  it('reads back a store file and its applied index, and refuses one damaged on its way', async () => {
    const rng = new Prng(testSeed('store file fuzz'));
    for (let round = 0; round < 500; round++) {
      const file = Uint8Array.from({ length: rng.int(3_000) }, () => rng.int(256));
      const applied = rng.int(2 ** 40);
      const data = envOf(file, applied);
      const read = await readEnvCopy(data);
      expect(read.applied).toBe(applied);
      expect(Buffer.from(read.file).equals(Buffer.from(file))).toBe(true);
      const damaged = Uint8Array.from(data);
      const cut = rng.int(2) === 0;
      if (cut) {
        await expect(readEnvCopy(damaged.subarray(0, rng.int(damaged.length)))).rejects.toThrow(SnapshotDataError);
      } else if (file.length > 0) {
        const at = data.length - 1 - rng.int(file.length);
        damaged[at] = (damaged[at]! + 1 + rng.int(255)) % 256;
        await expect(readEnvCopy(damaged)).rejects.toThrow(SnapshotDataError);
      }
    }
  });
});
