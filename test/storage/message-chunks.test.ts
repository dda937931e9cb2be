import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Message } from '../../src/raft/types.js';
import { PeerTransport } from '../../src/storage/replica/peer-transport.js';
import { ChunkAssembler, ChunkError, chunksOf, CHUNK_BYTES, MAX_CHUNKED_MESSAGE_BYTES } from '../../src/storage/replica/message-chunks.js';
import type { ReplicaAddress } from '../../src/storage/common/topology.js';
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
      const chunks = [...chunksOf(message, transfer)];
      expect(chunks).toHaveLength(Math.ceil(size / CHUNK_BYTES));
      const results = chunks.map((c) => assembler.push(c));
      expect(results.slice(0, -1).every((r) => r === undefined)).toBe(true);
      expect(Buffer.from(results.at(-1) as Uint8Array).equals(message)).toBe(true);
    }
  });

  it('refuses a chunk out of place, a transfer over the bound and a malformed frame, and recovers with the next transfer', () => {
    const assembler = new ChunkAssembler();
    const [first, second, third] = [...chunksOf(randomBytes(2 * CHUNK_BYTES + 10), 7)];
    assembler.push(first!);
    expect(() => assembler.push(third!)).toThrow(ChunkError);
    expect(() => assembler.push(second!)).toThrow(/out of order/);
    const huge = Buffer.from(first!);
    huge.writeUIntBE(MAX_CHUNKED_MESSAGE_BYTES + 1, 11, 6);
    expect(() => assembler.push(huge)).toThrow(/announces/);
    expect(() => assembler.push(Buffer.from([0xc5, 1, 2]))).toThrow(/malformed/);
    const again = randomBytes(10);
    expect(Buffer.from(assembler.push([...chunksOf(again, 8)][0]!) as Uint8Array).equals(again)).toBe(true);
    expect(() => [...chunksOf(new Uint8Array(MAX_CHUNKED_MESSAGE_BYTES + 1), 9)]).toThrow(/over the/);
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
  });
});
