import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Message } from '../../src/raft/types.js';
import { PeerTransport } from '../../src/storage/replica/peer-transport.js';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeMessage, encodeMessageHead } from '../../src/raft/codec.js';
import { ChunkAssembler, ChunkError, chunksOf, chunksOfSource, CHUNK_BYTES, CHUNK_FIELDS, decodeChunkAck, encodeChunkAck, headAndTail, MAX_CHUNKED_MESSAGE_BYTES, OutOfPlaceChunk, transferKey, type FileTail } from '../../src/storage/replica/message-chunks.js';
import type { ReplicaAddress } from '../../src/storage/common/topology.js';
import { envCopy, ENV_HEADER_BYTES, readEnvHeader } from '../../src/storage/replica/snapshot-format.js';
import type { ReceivedFile } from '../../src/storage/replica/spool-file.js';
import { StoreStaging } from '../../src/storage/replica/store-staging.js';
import { Prng } from '../../src/util/random.js';
import { freePort } from '../helpers/ports.js';
import { testSeed } from '../helpers/seed.js';

/** Snapshots bigger than one frame travel in chunks (issue #16 item 3). */
describe('messages in chunks', () => {
  it('reassembles messages of random sizes exactly, chunk by chunk', () => {
    const rng = new Prng(testSeed('chunk sizes'));
    const assembler = new ChunkAssembler();
    for (let transfer = 1; transfer <= 20; transfer++) {
      const size = 1 + rng.int(3 * CHUNK_BYTES);
      const message = randomBytes(size);
      const chunks = [...chunksOf(message, { from: transfer, key: transferKey(message) })];
      expect(chunks).toHaveLength(Math.ceil(size / CHUNK_BYTES));
      const results = chunks.map((c) => assembler.push(c).whole);
      expect(results.slice(0, -1).every((r) => r === undefined)).toBe(true);
      expect(Buffer.from(results.at(-1)!).equals(message)).toBe(true);
    }
  });

  it('refuses a chunk out of place, a transfer over the bound and a malformed frame, and recovers with the next transfer', () => {
    const assembler = new ChunkAssembler();
    const big = randomBytes(3 * CHUNK_BYTES + 10);
    const transfer = { from: 7, key: transferKey(big) };
    const [first, , third] = [...chunksOf(big, transfer)];
    assembler.push(first!);
    expect(() => assembler.push(third!)).toThrow(ChunkError);
    try {
      assembler.push(third!);
    } catch (err) {
      // The refusal says where the sender should resume: after the first chunk, which is kept.
      expect((err as OutOfPlaceChunk).resumeAt.received).toBe(CHUNK_BYTES);
    }
    const huge = Buffer.from(first!);
    huge.writeUIntBE(MAX_CHUNKED_MESSAGE_BYTES + 1, CHUNK_FIELDS.total, 6);
    expect(() => assembler.push(huge)).toThrow(/announces/);
    expect(() => assembler.push(Buffer.from([0xc5, 1, 2]))).toThrow(/malformed/);
    const again = randomBytes(10);
    expect(Buffer.from(assembler.push([...chunksOf(again, { from: 8, key: transferKey(again) })][0]!).whole!).equals(again)).toBe(true);
    expect(() => [...chunksOf(new Uint8Array(MAX_CHUNKED_MESSAGE_BYTES + 1), transfer)]).toThrow(/over the/);
    expect(() => [...chunksOf(big, transfer, 5)]).toThrow(/cannot resume/);
    expect(() => decodeChunkAck(encodeChunkAck({ from: 1, key: transfer.key, received: 5 }))).toThrow(/chunk boundary/);
  });

  it('resumes a transfer cut short from what the receiver holds, repeating what came after its ack', () => {
    const assembler = new ChunkAssembler();
    const message = randomBytes(12 * CHUNK_BYTES + 77);
    const transfer = { from: 3, key: transferKey(message) };
    const acks: number[] = [];
    for (const chunk of [...chunksOf(message, transfer)].slice(0, 10)) {
      const progress = assembler.push(chunk);
      if (progress.ackDue) acks.push(progress.ack.received);
    }
    expect(acks).toEqual([8 * CHUNK_BYTES]);
    // The connection broke after chunk 10; the sender heard of 8 and resumes there.
    const rest = [...chunksOf(message, transfer, acks[0])].map((c) => assembler.push(c).whole);
    expect(Buffer.from(rest.at(-1)!).equals(message)).toBe(true);
    // Another message from the same sender is another transfer: it cannot continue this one.
    const other = randomBytes(2 * CHUNK_BYTES);
    expect(() => assembler.push([...chunksOf(other, { from: 3, key: transferKey(other) }, CHUNK_BYTES)][0]!)).toThrow(/out of order/);
  });

  it('sends a snapshot whose data goes on in a file as the same chunks as the whole message', async () => {
    const rng = new Prng(testSeed('head and tail'));
    for (let round = 0; round < 8; round++) {
      const data = randomBytes(1 + rng.int(3 * CHUNK_BYTES));
      // Round 0 as a record copy is sent: the message carries none of the data, all of it is in the file.
      const split = round === 0 ? 0 : rng.int(data.length + 1);
      const m: Message = {
        type: 'Snap', from: 1, to: 2, term: 1 + rng.int(100), logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, context: 0,
        snapshot: { meta: { index: rng.int(1e9), term: 1, membership: { voters: [1, 2, 3], learners: [] } }, data },
      };
      const whole = encodeMessage(m, MAX_CHUNKED_MESSAGE_BYTES);
      const head = encodeMessageHead({ ...m, snapshot: { ...m.snapshot!, data: data.subarray(0, split) } }, data.length - split, MAX_CHUNKED_MESSAGE_BYTES);
      expect(Buffer.concat([head, data.subarray(split)]).equals(whole)).toBe(true);
      const tail = await fileTail(data.subarray(split));
      try {
        const transfer = { from: 1, key: transferKey(head) };
        const chunks: Buffer[] = [];
        for await (const chunk of chunksOfSource(headAndTail(head, tail.tail), transfer)) chunks.push(chunk);
        expect(Buffer.concat(chunks).equals(Buffer.concat([...chunksOf(whole, transfer)]))).toBe(true);
      } finally {
        await tail.close();
      }
    }
  });

  describe('between two replicas over TCP', () => {
    const transports: PeerTransport[] = [];
    afterEach(async () => {
      await Promise.all(transports.splice(0).map((t) => t.close()));
    });

    it('carries a 150 MiB snapshot, over the 64 MiB a frame holds, while heartbeats keep arriving', { timeout: 60_000 }, async () => {
      const secret = randomBytes(32);
      const a: ReplicaAddress = { id: 1, partition: 0, host: '127.0.0.1', clientPort: 0, raftPort: await freePort() };
      const b: ReplicaAddress = { id: 2, partition: 0, host: '127.0.0.1', clientPort: 0, raftPort: await freePort() };
      const received: Message[] = [];
      let onReceive = () => {};
      const errors: Error[] = [];
      const sender = new PeerTransport(a, secret, (id) => [b].find((p) => p.id === id), () => undefined, (err) => errors.push(err));
      const receiver = new PeerTransport(b, secret, (id) => [a].find((p) => p.id === id), (m) => (received.push(m), onReceive()), (err) => errors.push(err));
      transports.push(sender, receiver);
      await Promise.all([sender.listen(), receiver.listen()]);
      const message = (type: Message['type'], extra: Partial<Message> = {}): Message => ({
        type, from: 1, to: 2, term: 3, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, context: 0, snapshot: undefined, ...extra,
      });
      // The connection opens on the first send and its handshake finishes a moment later.
      const arrived = (count: number) => new Promise<void>((resolve) => {
        onReceive = () => received.length >= count && resolve();
        onReceive();
      });
      const heartbeatUntilConnected = setInterval(() => sender.send([message('Heartbeat')], true), 20);
      await arrived(1);
      clearInterval(heartbeatUntilConnected);
      // Snap goes on the bulk connection: open it the same way with a small append first.
      const appendUntilConnected = setInterval(() => sender.send([message('App')], true), 20);
      await new Promise<void>((resolve) => {
        onReceive = () => received.some((m) => m.type === 'App') && resolve();
        onReceive();
      });
      clearInterval(appendUntilConnected);
      received.length = 0;
      const data = randomBytes(150 << 20);
      sender.send([message('Snap', { index: 900, snapshot: { meta: { index: 900, term: 3, membership: { voters: [1, 2, 3], learners: [] } }, data } })], true);
      for (let i = 0; i < 5; i++) sender.send([message('Heartbeat', { commit: i })], true);
      await new Promise<void>((resolve) => {
        onReceive = () => received.some((m) => m.type === 'Snap') && resolve();
        onReceive();
      });
      const snap = received.find((m) => m.type === 'Snap');
      expect(snap?.snapshot?.meta).toEqual({ index: 900, term: 3, membership: { voters: [1, 2, 3], learners: [] } });
      expect(Buffer.from(snap?.snapshot?.data ?? new Uint8Array()).equals(data)).toBe(true);
      // The heartbeats sent after the snapshot were not held behind it.
      expect(received.findIndex((m) => m.type === 'Heartbeat')).toBeLessThan(received.findIndex((m) => m.type === 'Snap'));
      expect(errors).toEqual([]);
    });

    it.each(['in memory', 'read from a file', 'a store file, written to disk as it arrives'] as const)('resumes a snapshot (%s) whose connection broke half way from what the receiver acknowledged', { timeout: 60_000 }, async (where) => {
      const secret = randomBytes(32);
      const a: ReplicaAddress = { id: 1, partition: 0, host: '127.0.0.1', clientPort: 0, raftPort: await freePort() };
      const b: ReplicaAddress = { id: 2, partition: 0, host: '127.0.0.1', clientPort: 0, raftPort: await freePort() };
      // a reaches b through a proxy that cuts the first connection to carry more than 20 MiB.
      const proxy = await cuttingProxy(await freePort(), b.raftPort, 20 << 20);
      const viaProxy = { ...b, raftPort: proxy.port };
      const toA: Message[] = [];
      const toB: Message[] = [];
      const files: ReceivedFile[] = [];
      const errors: Error[] = [];
      const spooling = where === 'a store file, written to disk as it arrives';
      const spoolDir = mkdtempSync(join(tmpdir(), 'ecom-incoming-'));
      const staging = new StoreStaging(spoolDir);
      const sender = new PeerTransport(a, secret, (id) => (id === 2 ? viaProxy : undefined), (m) => toA.push(m), (err) => errors.push(err));
      const receiver = new PeerTransport(b, secret, (id) => (id === 1 ? a : undefined), (m, file) => (toB.push(m), file && files.push(file)), (err) => errors.push(err), undefined, spooling ? staging.spool : undefined);
      transports.push(sender, receiver);
      let tail: Awaited<ReturnType<typeof fileTail>> | undefined;
      try {
        await Promise.all([sender.listen(), receiver.listen()]);
        const message = (type: Message['type'], from: number, to: number, extra: Partial<Message> = {}): Message => ({
          type, from, to, term: 3, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, context: 0, snapshot: undefined, ...extra,
        });
        // Open every connection first (a's bulk and control to b, b's control to a, which carries the acks).
        await until(() => toB.some((m) => m.type === 'App') && toB.some((m) => m.type === 'Heartbeat') && toA.length > 0, () => {
          sender.send([message('App', 1, 2), message('Heartbeat', 1, 2)], true);
          receiver.send([message('HeartbeatResp', 2, 1)], true);
        });
        const applied = 123_456;
        const data = spooling ? envCopy(applied, randomBytes(40 << 20)) : randomBytes(40 << 20);
        // From a file: the message carries the data's first bytes, and the rest is read from disk as the chunks leave.
        // A store file: the message carries its header, as a leader sends it.
        const head = where === 'in memory' ? data : data.subarray(0, spooling ? ENV_HEADER_BYTES : 1_000);
        const snap = message('Snap', 1, 2, { index: 900, snapshot: { meta: { index: 900, term: 3, membership: { voters: [1, 2], learners: [] } }, data: head } });
        tail = where === 'in memory' ? undefined : await fileTail(data.subarray(head.length));
        const from = tail?.tail;
        // As Raft does, the leader sends the snapshot again until it is in. A repeat may still be
        // reading the file when the first is in: the file is closed only at the end (closing it
        // stops that transfer, which the sender reports as an error).
        await until(() => toB.some((m) => m.type === 'Snap'), () => void sender.sendSnapshot(snap, from), 300);
        const got = toB.find((m) => m.type === 'Snap');
        if (spooling) {
          // The receiver holds the header; the file's bytes went to disk as they came, its checksum taken on the way.
          expect(files).toHaveLength(1);
          expect(readEnvHeader(got!.snapshot!.data, files[0]!)).toBe(applied);
          const kept = join(spoolDir, 'kept');
          await files[0]!.keepAs(kept);
          expect(readFileSync(kept).equals(data.subarray(ENV_HEADER_BYTES))).toBe(true);
          // A send repeated while the first was still arriving may have begun a second transfer:
          // its file goes when the transfer is cut, here by closing the receiver.
          await receiver.close();
          await vi.waitFor(() => expect(readdirSync(join(spoolDir, 'incoming'))).toEqual([]), { timeout: 5_000, interval: 20 });
        } else expect(Buffer.from(got?.snapshot?.data ?? new Uint8Array()).equals(data)).toBe(true);
        expect(proxy.cuts).toBe(1);
        expect(sender.resumedBytes, 'the second attempt started after what the receiver held').toBeGreaterThanOrEqual(8 << 20);
        expect(errors).toEqual([]);
      } finally {
        await proxy.close();
        await tail?.close();
        staging.close();
        rmSync(spoolDir, { recursive: true, force: true });
      }
    });
  });
});

/** `bytes` in a file of a temporary folder, as a transfer's tail; close() closes and removes it. */
async function fileTail(bytes: Uint8Array): Promise<{ tail: FileTail; close(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'ecom-tail-'));
  writeFileSync(join(dir, 'tail'), bytes);
  const handle = await open(join(dir, 'tail'), 'r');
  return {
    tail: {
      bytes: bytes.length,
      read: async (into, position) => {
        const { bytesRead } = await handle.read(into, 0, into.length, position);
        if (bytesRead !== into.length) throw new Error(`short read at ${position}`);
      },
    },
    close: async () => {
      await handle.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs `act` every `every_ms` until `done()` holds (connections and transfers have no event to await from outside). */
async function until(done: () => boolean, act: () => void, every_ms = 20, timeout_ms = 30_000): Promise<void> {
  const deadline = Date.now() + timeout_ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('timed out');
    act();
    await new Promise((r) => setTimeout(r, every_ms));
  }
}

/** A TCP proxy to `target` that cuts the first connection once it has carried `cutAfter` bytes one way. */
async function cuttingProxy(port: number, target: number, cutAfter: number): Promise<{ port: number; cuts: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const state = { port, cuts: 0, close: () => Promise.resolve() };
  const server: Server = createServer((from) => {
    const to = connect({ host: '127.0.0.1', port: target });
    const both = [from, to];
    const end = () => both.forEach((s) => s.destroy());
    let forwarded = 0;
    for (const s of both) {
      sockets.add(s);
      s.on('error', end);
      s.on('close', end);
    }
    from.on('data', (chunk: Buffer) => {
      forwarded += chunk.length;
      if (state.cuts === 0 && forwarded > cutAfter) {
        state.cuts++;
        end();
        return;
      }
      if (!to.write(chunk)) {
        from.pause();
        to.once('drain', () => from.resume());
      }
    });
    to.on('data', (chunk: Buffer) => from.write(chunk));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  state.close = () => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return state;
}
