import { describe, expect, it } from 'vitest';
import type { ReplicaStatus } from '../../src/storage/common/protocol.js';
import { clusterStatuses, sharedRaftCluster } from './cluster.js';

/**
 * A busy partition must not depose its own healthy leader (issue #18): under a sustained
 * pipelined write load that crosses many snapshot points, with no fault injected, the leaders
 * stay and no replica's event loop stalls for a sizeable part of the election timeout
 * (300–600 ms). Before, every replica serialized its whole state on its event loop at the same
 * index, heartbeats stopped and the followers elected a new leader.
 */
const IN_FLIGHT = 256;
const DURATION_MS = 15_000;
/**
 * A sanity bound only. On a 2-core machine running six replicas, the load and another test file,
 * a process waiting for a core shows as a stall too (60–170 ms measured here), so the figure is
 * printed and the 50 ms target is measured by `ecom bench` on a quiet machine; what this test
 * holds firm is the consequence that matters: no leader change.
 */
const STALL_LIMIT_MS = 500;

// Snapshots every ~2,000 entries (jittered): a dozen or more per replica in the run.
const cluster = sharedRaftCluster({ snapshotEvery_entries: 2_000 });

const up = (statuses: Awaited<ReturnType<typeof clusterStatuses>>) => statuses.filter((s): s is ReplicaStatus => !('unreachable' in s));

describe('steady under load', () => {
  it(`${IN_FLIGHT} writes in flight for ${DURATION_MS / 1000} s across many snapshots: no leader change, no long stall`, { timeout: 120_000 }, async () => {
    const leadersBefore = await cluster.leaders();
    const backend = cluster.backend({ requestTimeout_ms: 10_000 });
    const deadline = Date.now() + DURATION_MS;
    let written = 0;
    const failures: string[] = [];
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async (_, w) => {
        for (let i = 0; Date.now() < deadline; i++) {
          const reply = await backend.execute({ op: 'CreateClient', cid: `${w}${String(i).padStart(7, '0')}`, data: '{"name": "a steady customer with a longish name"}' });
          if (reply.code === 0) written++;
          else failures.push(JSON.stringify(reply));
        }
      }),
    );
    const after = up(await clusterStatuses(cluster.topology));
    console.log(
      `steady: ${written} writes in ${DURATION_MS / 1000} s; ` +
        after.map((s) => `replica ${s.id} ${s.role} term ${s.term} snapshot ${s.snapshotIndex} stall ≤${s.maxStall_ms} ms leader silent ≤${s.maxLeaderSilence_ms ?? 0} ms`).join('; '),
    );
    expect(failures.slice(0, 3), 'every write acknowledged').toEqual([]);
    expect(after).toHaveLength(cluster.topology.replicas.length);
    for (const before of leadersBefore) {
      const now = after.find((s) => s.id === before.id)!;
      expect(now.role, `replica ${before.id} still leads partition ${before.partition}`).toBe('leader');
      expect(now.term, `partition ${before.partition} stayed in term ${before.term}`).toBe(before.term);
    }
    expect(Math.min(...after.map((s) => s.snapshotIndex)), 'every replica took snapshots during the run').toBeGreaterThan(0);
    for (const s of after) expect(s.maxStall_ms, `replica ${s.id}'s longest stall`).toBeLessThan(STALL_LIMIT_MS);
  });
});
