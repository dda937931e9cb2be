import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { StorageTier } from '../../src/modes/raft/storage-tier.js';
import { ReplicaClusterClient, withClusterClient } from '../../src/storage/client/cluster-client.js';
import type { ReplicaStatus } from '../../src/storage/common/protocol.js';
import { freeLocalTopology, type Topology } from '../../src/storage/common/topology.js';
import { PartitionedBackend } from '../../src/storage/client/partitioned-backend.js';

/** A real storage tier (one process per replica, or per replica slot when colocated) on free loopback ports, in a temporary folder. */
export interface RaftCluster {
  readonly topology: Topology;
  readonly tier: StorageTier;
  readonly dataDir: string;
  backend(options?: { requestTimeout_ms?: number; lockTtl_ms?: number }): PartitionedBackend;
  leaders(): Promise<ReplicaStatus[]>;
  stop(): Promise<void>;
}

export async function startRaftCluster(
  options: { partitions?: number; replicasPerPartition?: number; snapshotEvery_entries?: number; broker?: string; maxPendingProposals?: number; colocate?: boolean; testFaults?: string } = {},
): Promise<RaftCluster> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ecom-raft-'));
  const tier = new StorageTier({
    topology: await freeLocalTopology(options.partitions ?? 2, options.replicasPerPartition ?? 3),
    dataDir,
    snapshotEvery_entries: options.snapshotEvery_entries,
    broker: options.broker,
    maxPendingProposals: options.maxPendingProposals,
    colocate: options.colocate,
    ...(options.testFaults === undefined ? {} : { env: { ECOM_TEST_FAULTS: options.testFaults } }),
  });
  const backends: PartitionedBackend[] = [];
  try {
    await tier.start();
  } catch (err) {
    await tier.stop();
    throw err;
  }
  return {
    topology: tier.topology,
    tier,
    dataDir,
    backend(backendOptions = {}) {
      const backend = new PartitionedBackend(new ReplicaClusterClient(tier.topology), backendOptions);
      backends.push(backend);
      return backend;
    },
    async leaders() {
      return (await tier.waitForLeaders(20_000)).filter((s) => s.role === 'leader');
    },
    async stop() {
      await Promise.all(backends.map((b) => b.close()));
      await tier.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * One cluster for a whole test file: started before its tests, stopped after them. The object
 * returned forwards to it, so tests write `cluster.backend()` as with their own.
 */
export function sharedRaftCluster(options: Parameters<typeof startRaftCluster>[0] = {}): RaftCluster {
  let cluster: RaftCluster | undefined;
  beforeAll(async () => {
    cluster = await startRaftCluster(options);
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });
  return new Proxy({} as RaftCluster, {
    get(_target, key) {
      if (cluster === undefined) throw new Error('the shared raft cluster has not started (its beforeAll failed)');
      return Reflect.get(cluster, key) as unknown;
    },
  });
}

export async function clusterStatuses(topology: Topology): Promise<Awaited<ReturnType<ReplicaClusterClient['statuses']>>> {
  return withClusterClient(topology, (client) => client.statuses(1_000));
}
