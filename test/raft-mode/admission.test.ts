import { describe, expect, it } from 'vitest';
import type { ReplicaStatus } from '../../src/storage/common/protocol.js';
import { clusterStatuses, sharedRaftCluster } from './cluster.js';

/**
 * Admission control (issue #18 item 3): a leader takes at most --max-pending proposals it has not
 * applied yet and answers "busy" beyond, appending nothing; clients back off and retry. Overload
 * makes requests wait, never fail. (That it elects no leader either is steady.test.ts's to show:
 * here, on a crowded machine, an election from scheduling alone would fail the wrong test.)
 */
const cluster = sharedRaftCluster({ maxPendingProposals: 8 });

describe('admission control', () => {
  it('400 writes at once against a leader that takes 8: busy answers, backoff, every write applied once', async () => {
    const backend = cluster.backend({ requestTimeout_ms: 30_000 });
    const cids = Array.from({ length: 400 }, (_, i) => String(7_000_000 + i));
    const replies = await Promise.all(cids.map((cid) => backend.execute({ op: 'CreateClient', cid, data: '{"name": "queued"}' })));
    expect(replies.filter((r) => r.code !== 0)).toEqual([]);
    const statuses = (await clusterStatuses(cluster.topology)).filter((s): s is ReplicaStatus => !('unreachable' in s));
    const busy = statuses.reduce((sum, s) => sum + (s.busyRefusals ?? 0), 0);
    expect(busy, 'the leaders did answer busy').toBeGreaterThan(0);
    const reader = cluster.backend();
    for (const cid of cids) expect((await reader.read('client', cid))?.name, cid).toBe('queued');
    // Applied once each: creating any of them again is a duplicate.
    expect(await backend.execute({ op: 'CreateClient', cid: cids[0]!, data: '{"name": "again"}' })).toMatchObject({ code: 400 });
  });
});
