import { readFileSync } from 'node:fs';
import { connectAuthenticated } from '../helpers/authenticated.js';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeFrame } from '../../src/net/frames.js';
import { encodeMessage } from '../../src/raft/codec.js';
import type { Message, MessageType } from '../../src/raft/types.js';
import { chunksOf, CHUNK_BYTES, CHUNK_FIELDS, encodeChunkAck, MAX_CHUNKED_MESSAGE_BYTES, transferKey } from '../../src/storage/replica/message-chunks.js';
import { replicaById } from '../../src/storage/common/topology.js';
import { Prng } from '../../src/util/random.js';
import { testSeed } from '../helpers/seed.js';
import { clusterStatuses, sharedRaftCluster } from './cluster.js';

/**
 * Seeded fuzzing of the Raft peer port (issue #13 item 2): well-encoded Raft messages with
 * arbitrary fields, as a process on this machine could send them, to every replica of
 * partition 0. Afterwards every replica must still answer and both partitions take writes, and
 * records written before must be unchanged. (Authenticating peers is what keeps such messages
 * out; this proves a replica that receives them does not fall over.) Some are chunk frames of
 * big messages, alone, out of place or with lying headers.
 */
const MESSAGES_PER_REPLICA = 300;
const TYPES: MessageType[] = ['PreVote', 'PreVoteResp', 'Vote', 'VoteResp', 'App', 'AppResp', 'Heartbeat', 'HeartbeatResp', 'TimeoutNow'];

const cluster = sharedRaftCluster();

function randomMessage(r: Prng, to: number, peers: number[]): Message {
  const small = () => r.int(40);
  const number = () => r.pick([0, 1, small(), small(), 1_000_000, Number.MAX_SAFE_INTEGER]);
  const type = r.pick(TYPES);
  const index = number();
  return {
    type,
    from: r.chance(0.9) ? r.pick(peers) : r.int(10),
    to: r.chance(0.95) ? to : r.int(10),
    term: r.chance(0.7) ? small() : number(),
    logTerm: number(),
    index,
    entries: type === 'App' && r.chance(0.5) ? Array.from({ length: r.int(3) }, (_, i) => ({ term: small(), index: (index > 1e9 ? small() : index) + 1 + i, kind: 'normal' as const, data: new Uint8Array(r.int(8)) })) : [],
    commit: number(),
    reject: r.chance(0.3),
    rejectHint: number(),
    context: r.chance(0.8) ? 0 : number(),
    snapshot: undefined,
  };
}

/**
 * A chunk frame of a big message (src/storage/replica/message-chunks.ts): a real chunk of an
 * encoded message, alone or out of place, or one whose header lies about offsets and sizes.
 */
function randomChunk(r: Prng, to: number, peers: number[]): Buffer {
  const encoded = encodeMessage(randomMessage(r, to, peers));
  const chunks = [...chunksOf(encoded, { from: r.pick(peers), key: transferKey(encoded) })];
  const chunk = Buffer.from(r.pick(chunks));
  if (r.chance(0.5)) chunk.writeUIntBE(r.pick([0, 1, CHUNK_BYTES, MAX_CHUNKED_MESSAGE_BYTES + 1, 2 ** 40]), r.pick([CHUNK_FIELDS.offset, CHUNK_FIELDS.total]), 6);
  if (r.chance(0.1)) return encodeChunkAck({ from: r.pick(peers), key: transferKey(encoded), received: r.pick([0, CHUNK_BYTES, 3]) }).subarray(0, r.chance(0.5) ? undefined : 7);
  if (r.chance(0.2)) return chunk.subarray(0, r.int(chunk.length));
  return chunk;
}

async function send(port: number, frames: Buffer[]): Promise<void> {
  const { socket } = await connectAuthenticated(cluster.topology, port, 'raft');
  return new Promise((resolve) => {
    for (const frame of frames) socket.write(frame);
    socket.end();
    socket.on('close', () => resolve());
  });
}

describe('fuzzing the Raft peer port', () => {
  it('arbitrary Raft messages to every replica of partition 0: all up, writable, records intact', { timeout: 180_000 }, async () => {
    const seed = testSeed('fuzz raft peer port');
    const r = new Prng(seed);
    const backend = cluster.backend({ requestTimeout_ms: 10_000 });
    const kept = Array.from({ length: 10 }, (_, i) => String(2 * i + 800_000));
    for (const cid of kept) expect(await backend.execute({ op: 'CreateClient', cid, data: '{"name": "kept"}' })).toEqual({ code: 0 });
    const members = cluster.topology.replicas.filter((x) => x.partition === 0);
    const peers = members.map((m) => m.id);
    for (const member of members) {
      const frames = Array.from({ length: MESSAGES_PER_REPLICA }, () =>
        r.chance(0.15) ? encodeFrame(randomChunk(r, member.id, peers)) : encodeFrame(encodeMessage(randomMessage(r, member.id, peers))),
      );
      // In small bursts: a burst that makes the replica drop the connection loses only itself.
      for (let i = 0; i < frames.length; i += 10) await send(replicaById(cluster.topology, member.id).raftPort, frames.slice(i, i + 10));
    }
    const statuses = await clusterStatuses(cluster.topology);
    for (const s of statuses.filter((x) => 'unreachable' in x)) {
      const log = readFileSync(join(cluster.dataDir, 'logs', `storage-${s.id}.log`), 'utf8').trim().split('\n');
      console.log(`replica ${s.id} is down; the end of its log:\n${log.slice(-4).join('\n')}`);
    }
    expect(statuses.filter((s) => 'unreachable' in s), 'every replica still answers').toEqual([]);
    await cluster.leaders();
    for (const cid of kept) expect((await backend.read('client', cid))?.name, `kept record ${cid}`).toBe('kept');
    for (const cid of ['800100', '800101']) expect(await backend.execute({ op: 'CreateClient', cid, data: '{"name": "after"}' })).toEqual({ code: 0 });
  });
});
