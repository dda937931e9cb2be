import { describe, expect, it, onTestFinished } from 'vitest';
import { ReplicaClusterClient } from '../../src/storage/client/cluster-client.js';
import { PartitionedBackend } from '../../src/storage/client/partitioned-backend.js';
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
    const client = new ReplicaClusterClient(cluster.topology);
    const backend = new PartitionedBackend(client, { requestTimeout_ms: 30_000 });
    onTestFinished(() => backend.close());
    const cids = Array.from({ length: 400 }, (_, i) => String(7_000_000 + i));
    const replies = await Promise.all(cids.map((cid) => backend.execute({ op: 'CreateClient', cid, data: '{"name": "queued"}' })));
    expect(replies.filter((r) => r.code !== 0)).toEqual([]);
    const statuses = (await clusterStatuses(cluster.topology)).filter((s): s is ReplicaStatus => !('unreachable' in s));
    const busy = statuses.reduce((sum, s) => sum + (s.busyRefusals ?? 0), 0);
    expect(busy, 'the leaders did answer busy').toBeGreaterThan(0);
    // The client's send window (send-window.ts) narrows to what the leader takes: refusals stay
    // a few per write. Each request backing off on its own, they were 2,180 here (5.4 per write).
    expect(busy, 'busy refusals per write').toBeLessThan(3 * cids.length);
    // What the portal's metrics show (storage-client-metrics.ts): the busy answers it heard (the
    // leaders may count more: other tests' writes, an answer lost with its connection), the
    // cuts they made, nothing given up, nothing left out or waiting.
    const windows = client.sendWindows();
    const heard = windows.reduce((sum, w) => sum + w.busy, 0);
    expect(heard).toBeGreaterThan(0);
    expect(heard).toBeLessThanOrEqual(busy);
    expect(windows.reduce((sum, w) => sum + w.cuts, 0)).toBeGreaterThan(0);
    for (const w of windows) expect({ ...w, busy: 0, cuts: 0, width: 0 }).toEqual({ partition: w.partition, width: 0, sending: 0, waiting: 0, busy: 0, cuts: 0, notSentDeadline: 0, notSentTooManyWaiting: 0 });
    const reader = cluster.backend();
    for (const cid of cids) expect((await reader.read('client', cid))?.name, cid).toBe('queued');
    // Applied once each: creating any of them again is a duplicate.
    expect(await backend.execute({ op: 'CreateClient', cid: cids[0]!, data: '{"name": "again"}' })).toMatchObject({ code: 400 });
  });
});
