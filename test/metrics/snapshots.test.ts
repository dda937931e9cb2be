import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseExposition } from '../../src/metrics/exposition.js';
import type { ReplicaStatus } from '../../src/storage/common/protocol.js';
import { clusterStatuses, startRaftCluster, type RaftCluster } from '../raft-mode/cluster.js';

/** The snapshot metrics move when a leader catches up, with a snapshot, a follower that was down while the log moved on. */
const WRITES = 400;

async function metric(url: string, name: string): Promise<number> {
  const samples = parseExposition(await (await fetch(url)).text()).flatMap((f) => f.samples);
  return samples.filter((s) => s.name === name).reduce((total, s) => total + s.value, 0);
}

describe('snapshot metrics', () => {
  let cluster: RaftCluster | undefined;
  afterAll(async () => {
    await cluster?.stop();
  });

  it('count the snapshots taken, sent by the leader and installed by a follower that fell behind', { timeout: 120_000 }, async () => {
    cluster = await startRaftCluster({ partitions: 1, snapshotEvery_entries: 50 });
    const url = new Map(cluster.tier.metricsTargets().map((t) => [t.process, t.url]));
    const leader = (await cluster.leaders())[0]!;
    const lagging = cluster.topology.replicas.find((r) => r.id !== leader.id)!;
    // Killed, not paused: a paused follower finds the entries it missed in its socket's buffers.
    await cluster.tier.replicas.get(lagging.id)!.kill();
    const backend = cluster.backend({ requestTimeout_ms: 10_000 });
    for (let i = 0; i < WRITES; i += 50) {
      const replies = await Promise.all(Array.from({ length: 50 }, (_, j) => backend.execute({ op: 'CreateClient', cid: String(5_000_000 + i + j), data: '{"name": "w"}' })));
      expect(replies.every((r) => r.code === 0)).toBe(true);
    }
    cluster.tier.startReplica(lagging.id);
    for (const deadline = Date.now() + 60_000; ; await new Promise((r) => setTimeout(r, 100))) {
      const statuses = (await clusterStatuses(cluster.topology)).filter((s): s is ReplicaStatus => !('unreachable' in s));
      const target = Math.max(...statuses.map((s) => s.commitIndex));
      if ((statuses.find((s) => s.id === lagging.id)?.appliedIndex ?? 0) >= target) break;
      if (Date.now() > deadline) throw new Error(`replica ${lagging.id} did not catch up: ${JSON.stringify(statuses)}\n${readFileSync(join(cluster.dataDir, 'logs', `storage-${lagging.id}.log`), 'utf8').slice(-3000)}`);
    }
    // Summed over the replicas: under load the leadership may have moved during the run.
    const names = ['ecom_raft_snapshot_size_bytes_count', 'ecom_raft_snapshots_sent_total', 'ecom_raft_snapshot_sent_bytes_total', 'ecom_raft_snapshots_installed_total', 'ecom_raft_proposals_total'];
    const seen = await Promise.all([...url].map(async ([process, at]) => ({ process, ...Object.fromEntries(await Promise.all(names.map(async (n) => [n, await metric(at, n)]))) }) as Record<string, number | string>));
    const total = (name: string) => seen.reduce((sum, s) => sum + Number(s[name]), 0);
    const why = JSON.stringify(seen);
    expect(total('ecom_raft_snapshot_size_bytes_count'), `snapshots taken: ${why}`).toBeGreaterThanOrEqual(1);
    expect(total('ecom_raft_snapshots_sent_total'), why).toBeGreaterThanOrEqual(1);
    expect(total('ecom_raft_snapshot_sent_bytes_total'), why).toBeGreaterThan(0);
    expect(seen.find((s) => s.process === `storage-${lagging.id}`)?.ecom_raft_snapshots_installed_total, why).toBeGreaterThanOrEqual(1);
    expect(total('ecom_raft_proposals_total'), `every write proposed: ${why}`).toBeGreaterThanOrEqual(WRITES);
  });
});
