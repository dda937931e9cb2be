import { describe, expect, it } from 'vitest';
import type { ReplicaStatus } from '../../src/storage/common/protocol.js';
import { clusterStatuses, sharedRaftCluster } from './cluster.js';

/**
 * Admission control (issue #18 item 3): a leader takes at most --max-pending proposals it has not
 * applied yet and answers "busy" beyond, appending nothing; clients narrow the proposals they
 * keep at the leader (a send window), back off and retry. Overload
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
    // The client's send window (send-window.ts) narrows to what the leader takes: refusals stay
    // a few per write. Each request backing off on its own, they were 2,180 here (5.4 per write).
    expect(busy, 'busy refusals per write').toBeLessThan(3 * cids.length);
    const reader = cluster.backend();
    for (const cid of cids) expect((await reader.read('client', cid))?.name, cid).toBe('queued');
    // Applied once each: creating any of them again is a duplicate.
    expect(await backend.execute({ op: 'CreateClient', cid: cids[0]!, data: '{"name": "again"}' })).toMatchObject({ code: 400 });
  });
});
