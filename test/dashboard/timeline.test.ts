import { describe, expect, it } from 'vitest';
import { clusterView, type StatusAnswer } from '../../src/dashboard/cluster-view.js';
import { changesBetween, Timeline } from '../../src/dashboard/timeline.js';
import type { ReplicaStatus } from '../../src/storage/common/protocol.js';
import type { Topology } from '../../src/storage/common/topology.js';

/** The timeline's inferences from two successive rounds of status answers. */
const topology: Topology = {
  partitions: 1,
  replicas: [1, 2, 3].map((id) => ({ id, partition: 0, host: '127.0.0.1', clientPort: 20_000 + id, raftPort: 30_000 + id })),
};

const status = (id: number, fields: Partial<ReplicaStatus>): ReplicaStatus => ({
  id, partition: 0, role: 'follower', term: 1, leader: 1, commitIndex: 5, appliedIndex: 5, lastIndex: 5, snapshotIndex: 0, ...fields,
});
const view = (answers: StatusAnswer[]) => clusterView(topology, answers, () => undefined, 0);

describe('timeline', () => {
  const steady = view([status(1, { role: 'leader', followers: [{ id: 2, match: 5, state: 'replicate' }, { id: 3, match: 3, state: 'replicate' }] }), status(2, {}), status(3, {})]);

  it('the first view says who leads; the leader view of followers is on each replica', () => {
    expect(changesBetween(undefined, steady).map((e) => e.text)).toEqual(['partition 0: replica 1 leads in term 1']);
    expect(steady.partitions[0]!.replicas.map((r) => r.match)).toEqual([5, 5, 3]);
  });

  it('a leader that dies, a candidate, then a winner', () => {
    const leaderDown = view([{ id: 1, partition: 0, unreachable: 'cannot connect' }, status(2, {}), status(3, { role: 'candidate', term: 2, leader: 0 })]);
    expect(changesBetween(steady, leaderDown).map((e) => e.text)).toEqual([
      'replica 1 stopped answering (cannot connect)',
      'replica 3 stands for election in term 2',
      'partition 0: no leader (replica 1 led in term 1)',
    ]);
    const elected = view([{ id: 1, partition: 0, unreachable: 'cannot connect' }, status(2, { term: 2, leader: 3 }), status(3, { role: 'leader', term: 2, leader: 3 })]);
    expect(changesBetween(leaderDown, elected).map((e) => e.text)).toEqual(['partition 0: replica 3 won the election for term 2 (before: no leader)']);
  });

  it('the votes of the new term say who stood and who voted for the winner', () => {
    const down = view([{ id: 1, partition: 0, unreachable: 'cannot connect' }, status(2, { term: 1 }), status(3, { term: 1 })]);
    const won = view([status(1, { term: 2, vote: 3, leader: 3 }), status(2, { term: 2, vote: 2, leader: 3 }), status(3, { role: 'leader', term: 2, vote: 3, leader: 3 })]);
    expect(changesBetween(down, won).at(-1)?.text).toBe('partition 0: replica 3 won the election for term 2 with votes from 1, 3 (candidates: 2, 3) (before: no leader)');
  });

  it('a leader that stepped down says why', () => {
    const stepped = view([status(1, { term: 2, leader: 0, lastStepDown: 'term 1: heard from no quorum for an election timeout', lastStepDownTerm: 1 }), status(2, { term: 2, leader: 0 }), status(3, { term: 2, leader: 0 })]);
    expect(changesBetween(steady, stepped).map((e) => e.text)).toEqual(['partition 0: no leader (replica 1 led in term 1; it stepped down: heard from no quorum for an election timeout)']);
  });

  it('a stale leader answering in an old term is not taken for the leader', () => {
    const twoLeaders = view([status(1, { role: 'leader', term: 1 }), status(2, { term: 2, leader: 3 }), status(3, { role: 'leader', term: 2, leader: 3 })]);
    expect(twoLeaders.partitions[0]!.leader).toBe(3);
  });

  it('snapshots taken and sent', () => {
    const later = view([status(1, { role: 'leader', snapshotIndex: 4, followers: [{ id: 2, match: 5, state: 'replicate' }, { id: 3, match: 3, state: 'snapshot' }] }), status(2, {}), status(3, {})]);
    expect(changesBetween(steady, later).map((e) => e.text)).toEqual([
      'replica 1 took a snapshot at index 4 and compacted its log up to it',
      "leader 1 sends a snapshot to replica 3: it is behind the start of the leader's log",
    ]);
  });

  it('keeps only the last events, numbered', () => {
    const timeline = new Timeline(2);
    for (const text of ['a', 'b', 'c']) timeline.add({ kind: 'control', text });
    expect(timeline.recent().map((e) => [e.seq, e.text])).toEqual([[2, 'b'], [3, 'c']]);
  });
});
