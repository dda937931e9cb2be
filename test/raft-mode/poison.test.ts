import { describe, expect, it } from 'vitest';
import { encodeFrame } from '../../src/net/frames.js';
import { connectAuthenticated } from '../helpers/authenticated.js';
import { replicaById } from '../../src/storage/common/topology.js';
import { clusterStatuses, sharedRaftCluster } from './cluster.js';

/**
 * Poison pills (issue #13): frames an attacker on this machine can send to a replica's request
 * port. Each must be refused (or its connection dropped) with every replica still up and the
 * partition still writable; before, the first one below took partition 0 down for good.
 */
const cluster = sharedRaftCluster();

/** Sends raw frames to a port; resolves with the decoded answers, or 'closed' if the replica hung up. */
async function send(port: number, frames: Buffer[], answers: number): Promise<unknown[] | 'closed'> {
  const { socket, decoder } = await connectAuthenticated(cluster.topology, port, 'requests');
  return new Promise((resolve, reject) => {
    const got: unknown[] = [];
    for (const frame of frames) socket.write(frame);
    socket.on('data', (chunk) => {
      for (const frame of decoder.push(chunk)) got.push(JSON.parse(frame.toString('utf8')));
      if (got.length >= answers) {
        socket.destroy();
        resolve(got);
      }
    });
    socket.on('close', () => resolve(got.length >= answers ? got : 'closed'));
    socket.on('error', reject);
  });
}

const json = (value: unknown) => encodeFrame(Buffer.from(JSON.stringify(value)));

async function leaderPortOf(partition: number): Promise<number> {
  const leader = (await cluster.leaders()).find((s) => s.partition === partition)!;
  return replicaById(cluster.topology, leader.id).clientPort;
}

async function expectAllUpAndWritable(tag: string): Promise<void> {
  const statuses = await clusterStatuses(cluster.topology);
  expect(statuses.filter((s) => 'unreachable' in s), 'every replica still answers').toEqual([]);
  const backend = cluster.backend();
  // Even client IDs live on partition 0, odd ones on partition 1.
  for (const cid of [`${tag}0`, `${tag}2`, `${tag}1`]) {
    expect(await backend.execute({ op: 'CreateClient', cid, data: '{"name": "after"}' })).toEqual({ code: 0 });
  }
}

describe('poison pills on the replica request port', () => {
  it('the frame of issue #13 (a session retried below its acknowledgement) is refused, nothing appended', async () => {
    const port = await leaderPortOf(0);
    const frame = json({
      id: 1,
      body: { op: 'propose', partition: 0, entry: { t: 'exec', session: { client: 'x', seq: 0, ackBelow: 5 }, command: { op: 'CreateClient', cid: '2', data: '{"name":"x"}' } } },
    });
    const answers = await send(port, [frame], 1);
    expect(answers).toEqual([{ id: 1, body: { ok: false, error: 'invalid', message: expect.stringMatching(/ackBelow/) as string } }]);
    await expectAllUpAndWritable('101');
  });

  it('a forged commit for locks never taken passes the shape check and is refused alike by every replica', async () => {
    const port = await leaderPortOf(0);
    const before = (await clusterStatuses(cluster.topology)).filter((s) => !('unreachable' in s) && s.partition === 0);
    const frame = json({
      id: 7,
      body: { op: 'propose', partition: 0, entry: { t: 'commit', txid: 'forged', writes: [] } },
    });
    // No locks of "forged" exist: an empty commit is a no-op, answered done.
    expect(await send(port, [frame], 1)).toEqual([{ id: 7, body: { ok: true, result: { t: 'done' } } }]);
    const lockless = json({
      id: 8,
      body: { op: 'propose', partition: 0, entry: { t: 'lock', txid: 'forged-2', home: 0, keys: [{ kind: 'client', id: '4' }], deadline_ms: 1 } },
    });
    expect(await send(port, [lockless], 1)).toMatchObject([{ id: 8, body: { ok: true } }]);
    const wrongCommit = json({
      id: 9,
      body: { op: 'propose', partition: 0, entry: { t: 'commit', txid: 'forged-2', writes: [{ key: { kind: 'client', id: '6' }, value: { kind: 'client', name: 'x', orders: [] } }] } },
    });
    expect(await send(port, [wrongCommit], 1)).toEqual([
      { id: 9, body: { ok: false, error: 'invalid', message: expect.stringMatching(/without holding its lock; nothing was changed/) as string } },
    ]);
    const release = json({ id: 10, body: { op: 'propose', partition: 0, entry: { t: 'release', txid: 'forged-2' } } });
    expect(await send(port, [release], 1)).toEqual([{ id: 10, body: { ok: true, result: { t: 'done' } } }]);
    const after = (await clusterStatuses(cluster.topology)).filter((s) => !('unreachable' in s) && s.partition === 0);
    expect(after.length, 'no replica of partition 0 went down').toBe(before.length);
    await expectAllUpAndWritable('102');
    const backend = cluster.backend();
    expect(await backend.read('client', '6'), 'the refused commit wrote nothing').toBeUndefined();
  });

  it('malformed frames and requests: refused with a reason, or the connection dropped; never a crash', async () => {
    const port = await leaderPortOf(0);
    const cases: Array<[string, Buffer]> = [
      ['null', json(null)],
      ['array', json([1, 2])],
      ['no id', json({ body: { op: 'status' } })],
      ['not JSON', encodeFrame(Buffer.from('{"id": 1, "body": '))],
      ['oversized length', Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3])],
    ];
    for (const [name, frame] of cases) expect(await send(port, [frame], 1), name).toBe('closed');
    const refusals: unknown[] = [
      null,
      'status',
      { op: 'propose' },
      { op: 'propose', partition: 0 },
      { op: 'propose', partition: 0, entry: { t: 'exec', session: { client: 'x', seq: -1 }, command: { op: 'CreateClient', cid: '2', data: '{}' } } },
      { op: 'propose', partition: 0, entry: { t: 'exec', session: { client: 'x', seq: 1e300, ackBelow: 1e300 }, command: { op: 'CreateClient', cid: '2', data: '{}' } } },
      { op: 'propose', partition: 0, entry: { t: 'exec', session: { client: 'x', seq: 3 }, command: { op: 'DropTables' } } },
      { op: 'propose', partition: 0, entry: { t: 'lock', txid: 't', home: 9, keys: [], deadline_ms: 0 } },
      { op: 'propose', partition: 0, entry: { t: 'lock', txid: 't', home: 0, keys: [{ kind: 'client', id: '1' }], deadline_ms: 0 } },
      { op: 'propose', partition: 0, entry: { t: 'commit', txid: 't', writes: [{ key: { kind: 'client', id: '2' }, value: { kind: 'product' } }] } },
      { op: 'propose', partition: 0, entry: { t: 'nuke' } },
      { op: 'read', partition: 0, kind: 'table', id: '1' },
      { op: 'staleDecisions', partition: 0, age_ms: 'old' },
      { op: 'shutdown', partition: 0 },
    ];
    const answers = await send(port, refusals.map((body, id) => json({ id, body })), refusals.length);
    expect(answers).not.toBe('closed');
    for (const answer of answers as Array<{ id: number; body: { ok: boolean; error: string } }>) {
      expect(answer.body, JSON.stringify(refusals[answer.id])).toMatchObject({ ok: false, error: 'invalid' });
    }
    await expectAllUpAndWritable('103');
  });
});
