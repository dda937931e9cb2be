import { describe, expect, it } from 'vitest';
import type { ReplicaStatus } from '../../src/storage/common/protocol.js';
import { runEcom } from '../helpers/ecom.js';
import { clusterStatuses, sharedRaftCluster } from './cluster.js';

/**
 * Leadership transfer on real processes (issue #16 item 2): `ecom leader move`, and a leader
 * that is asked to stop (SIGTERM) handing over first, while writes go on.
 */
const cluster = sharedRaftCluster();

async function leaderOf(partition: number): Promise<ReplicaStatus> {
  return (await cluster.leaders()).find((s) => s.partition === partition)!;
}

/** Keeps `concurrency` writers creating clients on both partitions; every write must be acknowledged. */
function steadyWrites(tag: string, concurrency = 4) {
  const backend = cluster.backend({ requestTimeout_ms: 5_000 });
  let running = true;
  let written = 0;
  const failures: string[] = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const done = Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      for (let i = 0; running; i++) {
        const reply = await backend.execute({ op: 'CreateClient', cid: `${tag}${w}${String(i).padStart(6, '0')}`, data: '{"name": "w"}' });
        if (reply.code === 0) written++;
        else failures.push(JSON.stringify(reply));
        for (const waiter of waiters.filter((x) => written >= x.n)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve();
        }
      }
    }),
  );
  return {
    /** Resolves once `n` writes were acknowledged. */
    reached: (n: number) => new Promise<void>((resolve) => (written >= n ? resolve() : waiters.push({ n, resolve }))),
    stop: async () => {
      running = false;
      await done;
      return { written, failures };
    },
  };
}

describe('leadership transfer', () => {
  // docs/spec.md: R-CLI-10
  it('ecom leader move hands partition 0 to the chosen follower while writes continue', async () => {
    const before = await leaderOf(0);
    const target = cluster.topology.replicas.find((r) => r.partition === 0 && r.id !== before.id)!.id;
    const writes = steadyWrites('9100');
    const run = await runEcom(['leader', 'move', '--partition', '0', '--to', String(target), '--storage-config', cluster.tier.configFile]);
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(new RegExp(`^partition 0: replica ${target} leads, term \\d+\\n$`));
    const { written, failures } = await writes.stop();
    expect(failures, 'no write refused or lost during the move').toEqual([]);
    expect(written).toBeGreaterThan(0);
    const after = await leaderOf(0);
    expect(after.id).toBe(target);
    expect(after.term, 'one term: a handover, not an election after a timeout').toBe(before.term + 1);
  });

  it('refuses a replica of another partition, naming the ones it has', async () => {
    const run = await runEcom(['leader', 'move', '--partition', '0', '--to', '4', '--storage-config', cluster.tier.configFile]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/replica 4 is not in partition 0 \(its replicas: 1, 2, 3\)/);
  });

  it('a leader asked to stop (SIGTERM) hands over before it exits: no write fails', async () => {
    const before = await leaderOf(1);
    const writes = steadyWrites('9200');
    await writes.reached(50); // the handover happens under load
    const code = await cluster.tier.replicas.get(before.id)!.stop();
    expect(code).toBe(0);
    const after = await leaderOf(1);
    const { failures } = await writes.stop();
    expect(failures).toEqual([]);
    expect(after.id).not.toBe(before.id);
    expect(after.term, 'the successor took over in the next term, by handover').toBe(before.term + 1);
    const down = (await clusterStatuses(cluster.topology)).filter((s) => 'unreachable' in s).map((s) => s.id);
    expect(down).toEqual([before.id]);
  });
});
