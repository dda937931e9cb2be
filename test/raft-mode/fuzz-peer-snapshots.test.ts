import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { encodeFrame } from '../../src/net/frames.js';
import { encodeMessage } from '../../src/raft/codec.js';
import type { Message } from '../../src/raft/types.js';
import { replicaById } from '../../src/storage/common/topology.js';
import type { ReplicaStatus } from '../../src/storage/common/protocol.js';
import { chunksOf, CHUNK_BYTES, MAX_CHUNKED_MESSAGE_BYTES, transferKey } from '../../src/storage/replica/message-chunks.js';
import { replicaDir } from '../../src/storage/replica/layout.js';
import { envCopy, stagedStore, stageName, storeMarker } from '../../src/storage/replica/snapshot-format.js';
import { PrintedLines, type PrintedLine } from '../../src/util/printed-lines.js';
import { Prng } from '../../src/util/random.js';
import { connectAuthenticated } from '../helpers/authenticated.js';
import { testSeed } from '../helpers/seed.js';
import { msg } from '../raft/harness.js';
import { clusterStatuses, sharedRaftCluster } from './cluster.js';

/**
 * Seeded fuzzing of the snapshots a peer sends (issue #18 item 5): Snap messages that claim to
 * come from partition 0's leader in its current term, for an index far ahead, so the Raft core
 * would take any of them, but whose data cannot be installed: random bytes, a store file whose
 * checksum does not match, a store file with a matching checksum that is not an LMDB file,
 * data naming a store of the sender's own, cut record copies and JSON. Each must be refused
 * before the core sees it (a refusal line in the log), and afterwards every replica answers,
 * none took the snapshot, and records written before are intact.
 */
const SNAPS_PER_FOLLOWER = 12;
const FAR_AHEAD = 10_000_000;

const cluster = sharedRaftCluster();

function storeFile(r: Prng, bytes: Uint8Array): Uint8Array {
  return envCopy(FAR_AHEAD + r.int(1_000), bytes);
}

/** Snapshot data that must be refused, of one of the kinds above. */
function badData(r: Prng): Uint8Array {
  const random = (n: number) => Uint8Array.from({ length: n }, () => r.int(256));
  switch (r.int(6)) {
    case 0:
      return random(1 + r.int(64));
    case 1: {
      // Over a chunk, a store file is written to disk as it arrives: refused all the same, and removed.
      const data = storeFile(r, random(r.chance(0.3) ? CHUNK_BYTES + r.int(CHUNK_BYTES) : 4_096 * (1 + r.int(4))));
      data[data.length - 1 - r.int(100)]! ^= 1 + r.int(255);
      return data;
    }
    case 2:
      // A page of zeros and random pages: a checksum that matches, a file LMDB will not open.
      return storeFile(r, Uint8Array.from([...new Uint8Array(4_096), ...random(4_096 * (r.chance(0.3) ? 256 + r.int(256) : r.int(3)))]));
    case 3:
      return r.chance(0.5) ? storeMarker() : stagedStore(stageName(FAR_AHEAD));
    case 4:
      return Uint8Array.from([...Buffer.from('ESNP\u0002C', 'latin1'), ...random(r.int(100))]);
    default:
      return new TextEncoder().encode(r.pick(['{"format":1,"entries":[["a"]]}', '{"format":1', '{"format":7,"entries":[]}']));
  }
}

async function send(port: number, message: Message): Promise<void> {
  const encoded = encodeMessage(message, MAX_CHUNKED_MESSAGE_BYTES);
  const frames = encoded.length <= CHUNK_BYTES ? [encodeFrame(encoded)] : [...chunksOf(encoded, { from: message.from, key: transferKey(encoded) })].map((chunk) => encodeFrame(chunk));
  const { socket } = await connectAuthenticated(cluster.topology, port, 'raft');
  await new Promise<void>((resolve) => {
    for (const frame of frames) socket.write(frame);
    socket.end();
    socket.on('close', () => resolve());
  });
}

const isRefusal = (line: PrintedLine) => line.text.includes('refused') && (line.text.includes('snapshot from a peer') || line.text.includes('store file from the leader'));

async function partition0(): Promise<ReplicaStatus[]> {
  return (await clusterStatuses(cluster.topology)).filter((s): s is ReplicaStatus => !('unreachable' in s) && s.partition === 0);
}

describe('fuzzing the snapshots a peer sends', () => {
  it('refuses every snapshot that cannot be installed, before the core takes it; all up, records intact', { timeout: 120_000 }, async () => {
    const seed = testSeed('fuzz peer snapshots');
    const r = new Prng(seed);
    const backend = cluster.backend({ requestTimeout_ms: 10_000 });
    const kept = Array.from({ length: 10 }, (_, i) => String(2 * i + 900_000));
    for (const cid of kept) expect(await backend.execute({ op: 'CreateClient', cid, data: '{"name": "kept"}' })).toEqual({ code: 0 });
    const statuses = await partition0();
    const leader = statuses.find((s) => s.role === 'leader');
    expect(leader, 'partition 0 has a leader').toBeDefined();
    const voters = statuses.map((s) => s.id);
    for (const follower of statuses.filter((s) => s.id !== leader!.id)) {
      const port = replicaById(cluster.topology, follower.id).raftPort;
      // Its lines come through a pipe that nothing we send waits for: awaited as printed.
      const printed = new PrintedLines(cluster.tier.replicas.get(follower.id)!);
      onTestFinished(() => printed.stop());
      for (let i = 0; i < SNAPS_PER_FOLLOWER; i++) {
        const index = FAR_AHEAD + r.int(1_000);
        await send(
          port,
          msg({ type: 'Snap', from: leader!.id, to: follower.id, term: leader!.term, snapshot: { meta: { index, term: leader!.term, membership: { voters, learners: [] } }, data: badData(r) } }),
        );
        // Each is refused in turn (a store file after its checks, in a child process): wait for the line.
        if ((await printed.nth(isRefusal, i + 1, 20_000)) === undefined) throw new Error(`replica ${follower.id} logged no refusal of snapshot ${i} (seed ${seed})`);
      }
    }
    // No file received to disk is left behind by a refusal.
    for (const follower of statuses.filter((s) => s.id !== leader!.id)) {
      const incoming = join(replicaDir(cluster.dataDir, follower.id), 'incoming');
      for (const deadline = Date.now() + 10_000; readdirSync(incoming).length > 0; await new Promise((resolve) => setTimeout(resolve, 20))) {
        if (Date.now() > deadline) throw new Error(`replica ${follower.id} left ${readdirSync(incoming).join(', ')} in ${incoming} (seed ${seed})`);
      }
    }
    const after = await clusterStatuses(cluster.topology);
    expect(after.filter((s) => 'unreachable' in s), 'every replica still answers').toEqual([]);
    for (const s of after as ReplicaStatus[]) expect(s.snapshotIndex, `replica ${s.id} took no forged snapshot`).toBeLessThan(FAR_AHEAD);
    await cluster.leaders();
    for (const cid of kept) expect((await backend.read('client', cid))?.name, `kept record ${cid}`).toBe('kept');
    expect(await backend.execute({ op: 'CreateClient', cid: '900100', data: '{"name": "after"}' })).toEqual({ code: 0 });
  });
});
