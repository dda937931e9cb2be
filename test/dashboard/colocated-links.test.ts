import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StorageTier } from '../../src/modes/raft/storage-tier.js';
import { withClusterClient } from '../../src/storage/client/cluster-client.js';
import type { ReplicaStatus } from '../../src/storage/common/protocol.js';
import { freeLocalTopology, type Topology } from '../../src/storage/common/topology.js';

/**
 * Link proxies on a colocated tier (`ecom up --colocate`): one topology file per process, in
 * which every peer of every hosted replica is reached through the proxy of its own link, so the
 * dashboard's cut and heal work on colocated replicas as on single ones.
 */
let dir: string;
let tier: StorageTier;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ecom-colo-links-'));
  tier = new StorageTier({ topology: await freeLocalTopology(), dataDir: dir, linkProxies: true, colocate: true });
  try {
    await tier.start();
  } catch (err) {
    await tier.stop();
    throw err;
  }
}, 60_000);

afterAll(async () => {
  await tier?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function leaderOf(partition: number, not: number, timeout_ms: number): Promise<ReplicaStatus> {
  const deadline = Date.now() + timeout_ms;
  for (;;) {
    const statuses = (await withClusterClient(tier.topology, (client) => client.statuses(1_000))).filter((s): s is ReplicaStatus => !('unreachable' in s));
    const leader = statuses.find((s) => s.partition === partition && s.role === 'leader' && s.id !== not);
    if (leader !== undefined) return leader;
    if (Date.now() > deadline) throw new Error(`partition ${partition} has no leader other than ${not} after ${timeout_ms} ms`);
    // Elections happen inside the replicas; from outside there is only their status to poll.
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('link proxies on a colocated tier', () => {
  it("gives each process one topology file that proxies every hosted replica's peers", () => {
    const own = JSON.parse(readFileSync(join(dir, 'topology-replica-1_4.json'), 'utf8')) as Topology;
    const real = (id: number) => tier.topology.replicas.find((r) => r.id === id)?.raftPort;
    const port = (id: number) => own.replicas.find((r) => r.id === id)?.raftPort;
    expect([port(1), port(4)], 'the hosted replicas keep their own Raft ports').toEqual([real(1), real(4)]);
    for (const peer of [2, 3, 5, 6]) expect(port(peer), `peer ${peer} is reached through a proxy`).not.toBe(real(peer));
    expect(tier.replicas.get(4)?.process.spawnargs).toContain(join(dir, 'topology-replica-1_4.json'));
  });

  it('cutting a leader off makes its partition elect another; healing lets it back as a follower', { timeout: 60_000 }, async () => {
    const old = await leaderOf(0, 0, 20_000);
    tier.links!.cut(old.id);
    const next = await leaderOf(0, old.id, 20_000);
    expect(next.term).toBeGreaterThan(old.term);
    tier.links!.heal(old.id);
    const deadline = Date.now() + 20_000;
    let back: ReplicaStatus | undefined;
    while (back?.role !== 'follower' || back.term < next.term) {
      if (Date.now() > deadline) throw new Error(`replica ${old.id} did not come back as a follower (last: ${JSON.stringify(back)})`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      back = (await withClusterClient(tier.topology, (client) => client.statuses(1_000))).find((s): s is ReplicaStatus => s.id === old.id && !('unreachable' in s));
    }
  });
});
