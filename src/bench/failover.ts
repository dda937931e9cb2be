import type { ReplicaStatus } from '../storage/common/protocol.js';
import { ReplicaClusterClient } from '../storage/client/cluster-client.js';
import { PartitionedBackend } from '../storage/client/partitioned-backend.js';
import { FreshIds } from './fresh-ids.js';
import { Histogram } from './histogram.js';
import type { FailoverResult } from './results.js';
import type { RaftTier } from './systems.js';
import { defined } from '../util/assert.js';

/**
 * The failover benchmark: under a steady background write load, kill -9 the leader of a
 * partition (alternating between partitions) and time how long until a write to that
 * partition succeeds again. Then restart the killed process and let every replica it hosts
 * catch up before the next kill, so every kill finds complete 3-replica groups.
 */
export interface FailoverOptions {
  readonly kills: number;
  /** Writes kept in flight in the background during the whole benchmark. */
  readonly backgroundConcurrency: number;
  readonly runTag: string;
  readonly onKill?: (kill: number, partition: number, leader: number, elapsed_ms: number) => void;
  readonly aborted?: () => boolean;
}

const CLIENT_DATA = '{"name": "failover"}';
/** Between failed probe writes: keeps the probe from spinning on a 2-core machine while a group elects. */
const PROBE_PAUSE_MS = 2;

export async function runFailover(raft: RaftTier, options: FailoverOptions): Promise<FailoverResult> {
  const status = new ReplicaClusterClient(raft.topology);
  const load = new PartitionedBackend(new ReplicaClusterClient(raft.topology), { requestTimeout_ms: 2_000 });
  const probe = new PartitionedBackend(new ReplicaClusterClient(raft.topology), { requestTimeout_ms: 1_000 });
  const loadIds = new FreshIds(options.runTag, 900);
  const probeIds = new FreshIds(options.runTag, 901);
  let stopLoad = false;
  const background = Array.from({ length: options.backgroundConcurrency }, async () => {
    while (!stopLoad) await load.execute({ op: 'CreateClient', cid: loadIds.next(), data: CLIENT_DATA }).catch(() => undefined);
  });
  const samples_ms: number[] = [];
  try {
    for (let k = 0; k < options.kills && !(options.aborted?.() ?? false); k++) {
      const partition = (k % 2) as 0 | 1;
      const leader = await leaderOf(status, partition);
      const killedAt = performance.now();
      await defined(raft.tier.replicas.get(leader), `process of leader ${leader}`).kill();
      for (;;) {
        const ok = await probe
          .execute({ op: 'CreateClient', cid: probeIds.next(partition), data: CLIENT_DATA })
          .then((r) => r.code === 0)
          .catch(() => false);
        if (ok) break;
        if (performance.now() - killedAt > 60_000) throw new Error(`partition ${partition} accepted no write within 60 s of killing replica ${leader}; see the replica logs`);
        await new Promise((r) => setTimeout(r, PROBE_PAUSE_MS));
      }
      const elapsed_ms = performance.now() - killedAt;
      samples_ms.push(elapsed_ms);
      options.onKill?.(k + 1, partition, leader, elapsed_ms);
      raft.tier.startReplica(leader);
      // Colocated, the kill took a replica of every partition: each must be back before the
      // next kill, or that one finds a partition with a member still starting.
      for (const id of raft.tier.hostedWith(leader)) await caughtUp(status, id, 60_000);
    }
  } finally {
    stopLoad = true;
    await Promise.all(background);
    await Promise.all([status.close(), load.close(), probe.close()]);
  }
  const histogram = new Histogram();
  for (const s of samples_ms) histogram.record_ms(s);
  return {
    kills: samples_ms.length,
    samples_ms: samples_ms.map((s) => Math.round(s * 10) / 10),
    latency: histogram.summary(),
    backgroundLoad: `${options.backgroundConcurrency} CreateClient writes in flight, both partitions`,
  };
}

async function upStatuses(status: ReplicaClusterClient): Promise<ReplicaStatus[]> {
  return (await status.statuses(500)).filter((s): s is ReplicaStatus => !('unreachable' in s));
}

export async function leaderOf(status: ReplicaClusterClient, partition: number): Promise<number> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const leader = (await upStatuses(status)).find((s) => s.partition === partition && s.role === 'leader');
    if (leader !== undefined) return leader.id;
    if (Date.now() > deadline) throw new Error(`partition ${partition} has no leader after 30 s`);
    // Status is polled: replicas offer no leadership event to outsiders.
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until the restarted replica answers and has applied what its leader had committed when we first looked. */
export async function caughtUp(status: ReplicaClusterClient, id: number, timeout_ms: number): Promise<void> {
  const deadline = Date.now() + timeout_ms;
  let target: number | undefined;
  for (;;) {
    const up = await upStatuses(status);
    const me = up.find((s) => s.id === id);
    const leader = me && up.find((s) => s.partition === me.partition && s.role === 'leader');
    if (me && leader) {
      target ??= leader.commitIndex;
      if (me.appliedIndex >= target) return;
    }
    if (Date.now() > deadline) throw new Error(`restarted replica ${id} did not catch up within ${timeout_ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
