import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeFrame, FrameDecoder } from '../../src/net/frames.js';
import { encodeMessage } from '../../src/raft/codec.js';
import type { Message } from '../../src/raft/types.js';
import { createClusterSecret } from '../../src/net/cluster-secret.js';
import { PartitionedBackend } from '../../src/storage/client/partitioned-backend.js';
import { ReplicaClusterClient } from '../../src/storage/client/cluster-client.js';
import { replicaById } from '../../src/storage/common/topology.js';
import { runEcom } from '../helpers/ecom.js';
import { clusterStatuses, sharedRaftCluster } from './cluster.js';

/**
 * Internal ports take only processes that prove the cluster's secret (issue #13 item 3): the
 * frame that once killed partition 0, sent by anyone on the machine without the secret, is
 * not even read.
 */
const cluster = sharedRaftCluster();
const scratch = mkdtempSync(join(tmpdir(), 'ecom-auth-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Everything a replica port sends back to a connection that skips the handshake, until it closes. */
function rawExchange(port: number, bytes: Buffer): Promise<Buffer[]> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const decoder = new FrameDecoder();
    const frames: Buffer[] = [];
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (chunk) => frames.push(...decoder.push(chunk)));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(frames));
  });
}

const poison = encodeFrame(
  Buffer.from(
    JSON.stringify({ id: 1, body: { op: 'propose', partition: 0, entry: { t: 'exec', session: { client: 'x', seq: 0, ackBelow: 5 }, command: { op: 'CreateClient', cid: '2', data: '{"name":"x"}' } } } }),
  ),
);

describe('authenticated internal traffic', () => {
  // docs/spec.md: R-SEC-1
  it('a request port answers a connection without the proof with a hello and a refusal, never with a result', async () => {
    const leader = (await cluster.leaders()).find((s) => s.partition === 0)!;
    const frames = await rawExchange(replicaById(cluster.topology, leader.id).clientPort, poison);
    expect(frames[0]?.[0], 'the hello that opens the handshake').toBe(1);
    expect(frames.slice(1).map((f) => f.subarray(1).toString()), 'then the refusal, and the connection closes').toEqual(['not an ecom handshake: connect with the ecom client of this version']);
    const backend = cluster.backend();
    expect(await backend.read('client', '2'), 'the unauthenticated proposal was not applied').toBeUndefined();
  });

  it('a Raft port drops a connection without the proof; the partition keeps its leader and its writes', async () => {
    const before = (await cluster.leaders()).find((s) => s.partition === 0)!;
    for (const replica of cluster.topology.replicas.filter((r) => r.partition === 0)) {
      // A well-formed message with a far higher term: read, it would make the replica step down or leave its leader.
      const message: Message = { type: 'Heartbeat', from: 99, to: replica.id, term: 1_000_000, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, context: 0, snapshot: undefined };
      await rawExchange(replica.raftPort, encodeFrame(encodeMessage(message)));
    }
    const after = await clusterStatuses(cluster.topology);
    expect(after.filter((s) => 'unreachable' in s)).toEqual([]);
    expect(after.find((s) => s.id === before.id && 'role' in s && s.role === 'leader' && s.term === before.term), 'the leader was not disturbed').toBeDefined();
    expect(await cluster.backend().execute({ op: 'CreateClient', cid: '40', data: '{"name": "after"}' })).toEqual({ code: 0 });
  });

  it('a portal with another cluster\'s secret is refused, says why, and changes nothing', async () => {
    const other = join(scratch, 'other.secret');
    createClusterSecret(other);
    const backend = new PartitionedBackend(new ReplicaClusterClient({ ...cluster.topology, secretFile: other }), { requestTimeout_ms: 1_000 });
    try {
      const reply = await backend.execute({ op: 'CreateClient', cid: '42', data: '{"name": "intruder"}' });
      expect(reply.code).toBe(503);
    } finally {
      await backend.close();
    }
    expect(await cluster.backend().read('client', '42')).toBeUndefined();
    const status = await runEcom(['status', '--storage-config', cluster.tier.configFile, '--cluster-secret', other]);
    expect(status.code).toBe(3);
    expect(status.stdout).toContain("this process does not hold the cluster's secret (see --cluster-secret)");
  });

  // docs/spec.md: R-CLI-3
  it('a replica or status command without a secret, or with one others can read, is refused with the flag to use', async () => {
    const data = join(scratch, 'replica-data');
    const config = join(scratch, 'plain.json');
    writeFileSync(config, JSON.stringify({ partitions: cluster.topology.partitions, replicas: cluster.topology.replicas }));
    const noSecret = await runEcom(['storage', '1', '--data', data, '--storage-config', config], { env: { ECOM_CLUSTER_SECRET_FILE: '' } });
    expect(noSecret.code).toBe(1);
    expect(noSecret.stderr).toContain(`no cluster secret at ${join(data, 'cluster.secret')}: pass --cluster-secret FILE`);
    const open = join(scratch, 'open.secret');
    createClusterSecret(open);
    chmodSync(open, 0o644);
    const readable = await runEcom(['status', '--storage-config', config, '--cluster-secret', open]);
    expect(readable.code).toBe(1);
    expect(readable.stderr).toContain(`run: chmod 600 ${open}`);
  });

  // docs/spec.md: R-CLI-9
  it('ecom secret creates an owner-only secret once and never overwrites it', async () => {
    const file = join(scratch, 'made', 'cluster.secret');
    const made = await runEcom(['secret', file]);
    expect(made.code).toBe(0);
    expect(made.stdout).toContain(`--cluster-secret ${file}`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const first = readFileSync(file, 'utf8');
    expect(first).toMatch(/^[0-9a-f]{64}\n$/);
    const again = await runEcom(['secret', file]);
    expect(again.stdout).toContain('already holds a cluster secret; kept it');
    expect(readFileSync(file, 'utf8')).toBe(first);
  });
});
