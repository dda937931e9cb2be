import { describe, expect, it } from 'vitest';
import type { ReplicaStatus } from '../../src/storage/common/protocol.js';
import { clusterStatuses, sharedRaftCluster } from './cluster.js';
import { expectAllPresent, writeStream } from './write-stream.js';

/**
 * A rolling restart of every replica under writes (issue #16, docs/operations.md "Restart a
 * replica, or all of them"): each is stopped as an operator stops it (SIGTERM: a leader hands
 * over first), started again, and caught up before the next goes. No write may fail, and every
 * acknowledged one is there at the end.
 */
const cluster = sharedRaftCluster();

/** Resolves once replica `id` answers and has applied at least `index`. */
async function caughtUp(id: number, index: number, timeout_ms = 30_000): Promise<void> {
  const deadline = Date.now() + timeout_ms;
  for (;;) {
    const status = (await clusterStatuses(cluster.topology)).find((s) => s.id === id);
    if (status !== undefined && !('unreachable' in status) && (status as ReplicaStatus).appliedIndex >= index) return;
    if (Date.now() > deadline) throw new Error(`replica ${id} did not catch up to ${index} in ${timeout_ms} ms: ${JSON.stringify(status)}`);
    // A replica's progress is only seen through its status; there is no event to await.
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('rolling restart', () => {
  it('restarts all six replicas one by one under writes: none fails, none is lost', { timeout: 180_000 }, async () => {
    const backend = cluster.backend({ requestTimeout_ms: 10_000 });
    const writes = writeStream(backend, 'roll', 6);
    await writes.progress(50);
    for (const replica of cluster.topology.replicas) {
      const code = await cluster.tier.replicas.get(replica.id)!.stop();
      expect(code, `replica ${replica.id} stops cleanly on SIGTERM`).toBe(0);
      const leader = (await cluster.leaders()).find((s) => s.partition === replica.partition)!;
      expect(leader.id).not.toBe(replica.id);
      await writes.progress(20); // its partition keeps taking writes without it
      cluster.tier.startReplica(replica.id);
      await caughtUp(replica.id, leader.commitIndex);
    }
    await writes.progress(50);
    await writes.stop();
    expect(writes.failures, 'no write refused or lost during the restarts').toEqual([]);
    await expectAllPresent(backend, writes.acked);
    const statuses = (await clusterStatuses(cluster.topology)) as ReplicaStatus[];
    expect(statuses.filter((s) => 'unreachable' in s)).toEqual([]);
    expect(new Set(statuses.filter((s) => s.role === 'leader').map((s) => s.partition))).toEqual(new Set([0, 1]));
  });
});
