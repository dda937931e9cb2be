import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { ChunkAssembler, ChunkError, chunksOf, CHUNK_BYTES, CHUNK_FIELDS, MAX_CHUNKED_MESSAGE_BYTES, transferKey, type Spool } from '../../src/storage/replica/message-chunks.js';
import { SpoolFile, type ReceivedFile } from '../../src/storage/replica/spool-file.js';
import { Prng } from '../../src/util/random.js';
import { testSeed } from '../helpers/seed.js';

/**
 * A transfer the receiver writes to disk as it arrives (a store file a leader sends): the file
 * holds exactly the bytes after the head, its checksum is theirs, resumed transfers and
 * repeated chunks change neither, and every file not handed on is removed.
 */
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ecom-spool-'));
  dirs.push(dir);
  return dir;
}

/** A spool that keeps the first `head` bytes of every transfer of more than one chunk in memory. */
function spoolKeeping(dir: string, head: number): Spool {
  return { dir, split: (first) => Math.min(head, first.length) };
}

/** Files removed by discard() go once their queued writes are done. */
async function settledFiles(dir: string): Promise<string[]> {
  for (let i = 0; i < 100; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    if (readdirSync(dir).length === 0) break;
  }
  return readdirSync(dir);
}

/** Bytes drawn from `rng`, so a seed replays them. */
function seededBytes(rng: Prng, length: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let at = 0; at < length; at++) bytes[at] = rng.int(256);
  return bytes;
}

async function keep(file: ReceivedFile, dir: string): Promise<Buffer> {
  const path = join(dir, `kept-${Math.random()}`);
  await file.keepAs(path);
  const bytes = readFileSync(path);
  rmSync(path);
  return bytes;
}

describe('transfers written to disk as they arrive', () => {
  it('writes what follows the head to a file, with its checksum, for transfers of random sizes and heads', async () => {
    const rng = new Prng(testSeed('random sizes and heads'));
    const dir = tempDir();
    for (let round = 0; round < 12; round++) {
      const head = rng.int(2_000);
      const assembler = new ChunkAssembler(spoolKeeping(dir, head));
      const message = randomBytes(CHUNK_BYTES + 1 + rng.int(4 * CHUNK_BYTES));
      let spooled;
      for (const chunk of chunksOf(message, { from: 4, key: transferKey(message) })) {
        const progress = assembler.push(chunk);
        expect(progress.whole).toBeUndefined();
        spooled = progress.spooled ?? spooled;
        await progress.pause;
      }
      const got = await spooled!;
      expect(Buffer.from(got.head).equals(message.subarray(0, head))).toBe(true);
      expect(got.file.bytes).toBe(message.length - head);
      expect(got.file.crc).toBe(crc32(message.subarray(head)));
      expect((await keep(got.file, dir)).equals(message.subarray(head))).toBe(true);
    }
    expect(readdirSync(dir)).toEqual([]);
  });

  it('keeps a transfer of one chunk, or one the spool does not take, in memory', () => {
    const dir = tempDir();
    const assembler = new ChunkAssembler({ dir, split: (first, total) => (total > 2 * CHUNK_BYTES ? 10 : undefined) });
    for (const size of [100, 2 * CHUNK_BYTES]) {
      const message = randomBytes(size);
      const last = [...chunksOf(message, { from: 1, key: transferKey(message) })].map((c) => assembler.push(c)).at(-1)!;
      expect(last.spooled).toBeUndefined();
      expect(Buffer.from(last.whole!).equals(message)).toBe(true);
    }
    expect(readdirSync(dir)).toEqual([]);
  });

  it('resumes from an acknowledgement, chunks repeated after it leaving the file and its checksum as they were', async () => {
    const dir = tempDir();
    const assembler = new ChunkAssembler(spoolKeeping(dir, 77));
    const message = randomBytes(20 * CHUNK_BYTES + 5);
    const transfer = { from: 2, key: transferKey(message) };
    const chunks = [...chunksOf(message, transfer)];
    let acked = 0;
    for (const chunk of chunks.slice(0, 13)) {
      const progress = assembler.push(chunk);
      if (progress.ackDue) acked = progress.ack.received;
    }
    expect(acked).toBe(8 * CHUNK_BYTES);
    // The connection broke after chunk 13; the sender resumes from the ack, sending 8 to 12 again.
    let spooled;
    for (const chunk of chunksOf(message, transfer, acked)) spooled = assembler.push(chunk).spooled ?? spooled;
    const got = await spooled!;
    expect(got.file.crc).toBe(crc32(message.subarray(77)));
    expect((await keep(got.file, dir)).equals(message.subarray(77))).toBe(true);
  });

  it('removes the file of a transfer replaced, pushed out by newer ones, or under way when the receiver closes', async () => {
    const dir = tempDir();
    const assembler = new ChunkAssembler(spoolKeeping(dir, 0));
    const first = (from: number) => {
      const message = randomBytes(3 * CHUNK_BYTES);
      return [...chunksOf(message, { from, key: transferKey(message) })][0]!;
    };
    const a = first(1);
    assembler.push(a);
    assembler.push(a); // the same transfer from its start again: the first file goes
    assembler.push(first(2));
    assembler.push(first(3)); // at most two under way: transfer 1's file goes
    expect(await settledFiles(dir)).toHaveLength(2);
    assembler.close();
    expect(await settledFiles(dir)).toEqual([]);
  });

  it('refuses a transfer that would not fit on the disk, before writing any of it', () => {
    const dir = tempDir();
    const assembler = new ChunkAssembler(spoolKeeping(dir, 0));
    const message = randomBytes(2 * CHUNK_BYTES);
    const chunk = Buffer.from([...chunksOf(message, { from: 1, key: transferKey(message) })][0]!);
    chunk.writeUIntBE(2 ** 40, CHUNK_FIELDS.total, 6);
    expect(() => assembler.push(chunk)).toThrow(/does not fit on the disk/);
    chunk.writeUIntBE(2 ** 40 + 1, CHUNK_FIELDS.total, 6);
    expect(() => assembler.push(chunk)).toThrow(/at most/);
    // Held in memory, a transfer is bounded by what memory allows.
    chunk.writeUIntBE(MAX_CHUNKED_MESSAGE_BYTES + 1, CHUNK_FIELDS.total, 6);
    expect(() => new ChunkAssembler().push(chunk)).toThrow(new RegExp(`at most ${MAX_CHUNKED_MESSAGE_BYTES} held in memory`));
    expect(readdirSync(dir)).toEqual([]);
  });

  it('fails a file whose writes fail, and tells so when it is finished', async () => {
    const dir = tempDir();
    const file = new SpoolFile(join(dir, 'f'));
    file.write(randomBytes(100), 0);
    file.discard();
    file.write(randomBytes(100), 100);
    await expect(file.finish(200)).rejects.toThrow(/discarded/);
    expect(await settledFiles(dir)).toEqual([]);
  });

  it('never fails but with a ChunkError, and leaves no file behind, on mangled transfers (seeded)', async () => {
    const seed = testSeed('mangled transfers');
    const rng = new Prng(seed);
    const dir = tempDir();
    const assembler = new ChunkAssembler({ dir, split: (first) => (first[0]! % 4 === 0 ? undefined : Math.min(first.length, first[1]!)) });
    const messages = Array.from({ length: 4 }, () => seededBytes(rng, 1 + rng.int(4 * CHUNK_BYTES)));
    // At least one message goes to disk whatever the seed: more than one chunk, and split.
    messages[0] = seededBytes(rng, CHUNK_BYTES + 1 + rng.int(3 * CHUNK_BYTES));
    messages[0][0] = 1 + 4 * rng.int(64);
    const completed: Array<Promise<{ head: Uint8Array; file: ReceivedFile }>> = [];
    const cursors = messages.map(() => 0);
    for (let step = 0; step < 600; step++) {
      const index = rng.int(messages.length);
      const message = messages[index]!;
      const chunks = [...chunksOf(message, { from: index, key: transferKey(message) })];
      // Mostly the next chunk of the message in order (so transfers complete), else any of its chunks.
      const next = cursors[index]! % chunks.length;
      const pick = rng.chance(0.85) ? next : rng.int(chunks.length);
      cursors[index] = pick + 1;
      let frame = Buffer.from(chunks[pick]!);
      switch (rng.int(12)) {
        case 0: // a header field changed
          frame.writeUInt32BE(rng.int(2 ** 32), rng.pick([CHUNK_FIELDS.offset, CHUNK_FIELDS.total]) + 2);
          break;
        case 1: // cut short
          frame = frame.subarray(0, rng.int(frame.length));
          break;
        case 2: // a byte of the header flipped
          frame[rng.int(CHUNK_FIELDS.total + 6)]! ^= 1 + rng.int(255);
          break;
        default: // as sent: in order, repeated or out of place
      }
      try {
        const progress = assembler.push(frame);
        if (progress.spooled !== undefined) completed.push(progress.spooled);
      } catch (err) {
        expect(err, `step ${step} (seed ${seed})`).toBeInstanceOf(ChunkError);
      }
    }
    expect(completed.length, `some transfers completed (seed ${seed})`).toBeGreaterThan(0);
    for (const done of completed) {
      const { head, file } = await done;
      // Whatever completed is some message's bytes after its head.
      const whole = Buffer.concat([head, await keep(file, dir)]);
      expect(messages.some((m) => m.equals(whole)), `seed ${seed}`).toBe(true);
    }
    assembler.close();
    expect(await settledFiles(dir), `seed ${seed}`).toEqual([]);
  });
});
