import { describe, expect, it } from 'vitest';
import { encodeFrame } from '../../src/net/frames.js';
import { connectAuthenticated } from '../helpers/authenticated.js';
import { replicaById } from '../../src/storage/common/topology.js';
import { Prng } from '../../src/util/random.js';
import { mutate } from '../helpers/mutate.js';
import { testSeed } from '../helpers/seed.js';
import { clusterStatuses, sharedRaftCluster } from './cluster.js';

/**
 * Seeded fuzzing of the replica request port (issue #13 item 2): valid requests of every kind,
 * mutated (fields dropped, retyped, oversized, nested, out of range, bytes flipped), sent to the
 * leaders of both partitions. Afterwards every replica must still answer, both partitions take
 * writes, and the records written before the fuzzing are unchanged: the fuzzer's IDs start with
 * "f", the kept records' with "k", so even a fuzzed request that is valid cannot touch them.
 */
const FRAMES_PER_LEADER = 400;

const cluster = sharedRaftCluster();

function templates(r: Prng): unknown[] {
  const id = () => `f${r.int(1_000)}`;
  const key = () => ({ kind: r.pick(['client', 'product', 'order']), id: id() });
  const command = () =>
    r.pick([
      { op: 'CreateClient', cid: id(), data: '{"name": "fuzz"}' },
      { op: 'CreateProduct', pid: id(), data: '{"name": "p", "price": "1.5", "quantity": 3}' },
      { op: 'CreateOrder', oid: id(), cid: id(), data: `[{"id": "${id()}", "quantity": 1}]` },
      { op: 'DeleteClient', cid: id() },
      { op: 'UpdateProduct', pid: id(), data: '{"name": "q", "price": "2", "quantity": 1}' },
    ]);
  const partition = r.int(2);
  const seq = r.int(50);
  return [
    { op: 'status' },
    { op: 'read', partition, kind: 'client', id: id() },
    { op: 'read', partition, kind: 'order', id: id(), held: true },
    { op: 'decision', partition, txid: `ftx${r.int(5)}` },
    { op: 'backupOpen', partition },
    { op: 'backupRead', partition, copy: 1 + r.int(3), offset: r.pick([0, r.int(100_000), 1 << 20]) },
    { op: 'clientOrders', partition, cid: id(), afterSeq: r.int(10), limit: 1 + r.int(300) },
    { op: 'expiredLocks', partition },
    { op: 'staleDecisions', partition, age_ms: r.int(10_000) },
    { op: 'transferLeader', partition, to: 1 + r.int(6) },
    // Learners that never start: members 100 and up, which no kept record or quorum depends on.
    { op: 'changeMember', partition, change: 'add', id: 100 + r.int(20), host: r.pick(['127.0.0.1', 'replica.example', '::1']), clientPort: 1 + r.int(65_535), raftPort: 1 + r.int(65_535) },
    { op: 'changeMember', partition, change: r.pick(['promote', 'remove']), id: 100 + r.int(20) },
    { op: 'propose', partition, entry: { t: 'noop' } },
    { op: 'propose', partition, entry: { t: 'exec', session: { client: r.pick(['fuzz-0', 'fuzz-1', 'fuzz-2', 'fuzz-0/0000000000000001']), seq, ackBelow: r.int(seq + 2) }, command: command(), ...(r.int(2) === 0 ? { format: 'indexed' } : {}) } },
    { op: 'propose', partition, entry: { t: 'lock', txid: `ftx${r.int(5)}`, home: r.int(2), keys: [key(), key()], deadline_ms: r.int(100_000) } },
    { op: 'propose', partition, entry: { t: 'decide', txid: `ftx${r.int(5)}`, format: 'indexed', commands: [command()], values: [[key(), null]], participants: [0, 1] } },
    {
      op: 'propose',
      partition,
      entry: { t: 'decide', txid: `ftx${r.int(5)}`, format: 'indexed', homeApplies: true, commands: [command(), command()], values: r.chance(0.5) ? [] : [[key(), null]], participants: [0, 1], forget: [`ftx${r.int(5)}`] },
    },
    { op: 'propose', partition, entry: { t: 'forget', txid: `ftx${r.int(5)}`, more: [`ftx${r.int(5)}`, `ftx${r.int(5)}`] } },
    { op: 'propose', partition, entry: { t: 'commit', txid: `ftx${r.int(5)}`, writes: [{ key: key(), value: { kind: 'client', name: 'x', orders: [] } }] } },
    { op: 'propose', partition, entry: { t: r.pick(['abort', 'release', 'forget']), txid: `ftx${r.int(5)}` } },
  ];
}

const WEIRD: unknown[] = [null, true, -1, 1e308, Number.MAX_SAFE_INTEGER + 2, 0.5, '', 'x'.repeat(70_000), [], {}, { nested: { deeper: [1, { x: null }] } }, '__proto__'];


function frameFor(r: Prng, id: number): Buffer {
  const body = r.chance(0.85) ? mutate(r.pick(templates(r)), r, WEIRD) : r.pick(templates(r));
  const frame = encodeFrame(Buffer.from(JSON.stringify({ id, body })));
  if (r.chance(0.05)) {
    const at = 4 + r.int(frame.length - 4);
    frame[at] = frame[at]! ^ (1 << r.int(8)); // a flipped bit in the JSON
  }
  return frame;
}

/** Sends frames one at a time, each on the same connection until the replica drops it; counts answers. */
async function fuzzPort(port: number, r: Prng): Promise<{ answered: number; dropped: number }> {
  let answered = 0;
  let dropped = 0;
  let sent = 0;
  while (sent < FRAMES_PER_LEADER) {
    const { socket, decoder } = await connectAuthenticated(cluster.topology, port, 'requests');
    const outcome = await new Promise<'closed' | 'done'>((resolve) => {
      let waiting = 0;
      const sendNext = () => {
        if (sent >= FRAMES_PER_LEADER) return void socket.end();
        socket.write(frameFor(r, sent++));
        waiting++;
      };
      sendNext();
      socket.on('data', (chunk) => {
        for (const _ of decoder.push(chunk)) {
          answered++;
          waiting--;
        }
        if (waiting === 0) sendNext();
      });
      socket.on('close', () => resolve(waiting > 0 ? 'closed' : 'done'));
    });
    if (outcome === 'closed') dropped++;
  }
  return { answered, dropped };
}

describe('fuzzing the replica request port', () => {
  it('mutated requests to both leaders: every replica up, both partitions writable, kept records intact', { timeout: 180_000 }, async () => {
    const seed = testSeed('fuzz replica request port');
    const r = new Prng(seed);
    const backend = cluster.backend();
    const kept = Array.from({ length: 20 }, (_, i) => `k${i}`);
    for (const cid of kept) expect(await backend.execute({ op: 'CreateClient', cid, data: `{"name": "kept ${cid}"}` })).toEqual({ code: 0 });
    for (const partition of [0, 1]) {
      const leader = (await cluster.leaders()).find((s) => s.partition === partition)!;
      const { answered, dropped } = await fuzzPort(replicaById(cluster.topology, leader.id).clientPort, r);
      console.log(`fuzz: partition ${partition} leader ${leader.id}: ${answered} answers, ${dropped} connections dropped`);
      expect(answered + dropped, 'every frame was answered or got its connection dropped').toBeGreaterThanOrEqual(FRAMES_PER_LEADER * 0.9);
    }
    const statuses = await clusterStatuses(cluster.topology);
    const started = new Set(cluster.topology.replicas.map((r) => r.id));
    // Learners the fuzzer added never start; every replica that did must still answer.
    expect(statuses.filter((s) => 'unreachable' in s && started.has(s.id)), 'every replica still answers').toEqual([]);
    await cluster.leaders();
    const after = cluster.backend({ requestTimeout_ms: 10_000 });
    for (const cid of kept) expect((await after.read('client', cid))?.name, `kept record ${cid}`).toBe(`kept ${cid}`);
    for (const cid of ['k100', 'k101']) expect(await after.execute({ op: 'CreateClient', cid, data: '{"name": "after"}' })).toEqual({ code: 0 });
  });
});
