import { describe, expect, it } from 'vitest';
import type { ReplicaStatus } from '../../src/storage/common/protocol.js';
import { sameProcessAs } from '../../src/storage/common/colocation.js';
import { defaultTopology, type Topology } from '../../src/storage/common/topology.js';
import { spreadMove } from '../../src/storage/replica/leader-spread.js';

/** The move a colocated process makes when it holds several partitions' leaders (issue #12 lever 4). */
function leader(id: number, partition: number, followers: Array<[id: number, match: number, active?: boolean]>, learners: number[] = []): ReplicaStatus {
  const voters = [id, ...followers.map(([f]) => f).filter((f) => !learners.includes(f))];
  return {
    id,
    partition,
    role: 'leader',
    term: 3,
    leader: id,
    commitIndex: 100,
    appliedIndex: 100,
    lastIndex: 100,
    snapshotIndex: 0,
    followers: followers.map(([f, match, active]) => ({ id: f, match, state: 'replicate', active: active ?? true })),
    members: [...voters.map((v) => ({ id: v, role: 'voter' as const })), ...learners.map((l) => ({ id: l, role: 'learner' as const }))],
  };
}
function follower(id: number, partition: number, leaderId: number): ReplicaStatus {
  return { id, partition, role: 'follower', term: 3, leader: leaderId, commitIndex: 100, appliedIndex: 100, lastIndex: 100, snapshotIndex: 0 };
}
const layout = (topology: Topology, hosted: number[]) => sameProcessAs(topology, hosted);

describe('spreading partition leaders over processes', () => {
  const two = defaultTopology(); // processes host [1, 4], [2, 5], [3, 6]

  it('does nothing while a process leads one partition or none', () => {
    expect(spreadMove([leader(1, 0, [[2, 100], [3, 100]]), follower(4, 1, 5)], layout(two, [1, 4]))).toBeUndefined();
    expect(spreadMove([follower(1, 0, 2), follower(4, 1, 5)], layout(two, [1, 4]))).toBeUndefined();
  });

  it('hands the higher partition to its most caught-up active voter elsewhere, keeping the lowest', () => {
    const move = spreadMove([leader(1, 0, [[2, 100], [3, 100]]), leader(4, 1, [[5, 90], [6, 100]])], layout(two, [1, 4]));
    expect(move).toEqual({ from: 4, partition: 1, to: 6 });
  });

  it('passes over followers that are not heard from, hold nothing or are learners', () => {
    const hosted = [leader(1, 0, [[2, 100], [3, 100]]), leader(4, 1, [[5, 100, false], [6, 0]])];
    expect(spreadMove(hosted, layout(two, [1, 4]))).toBeUndefined();
    const learner = [leader(1, 0, [[2, 100], [3, 100]]), leader(4, 1, [[5, 100], [7, 100]], [7])];
    expect(spreadMove(learner, layout(two, [1, 4]))).toEqual({ from: 4, partition: 1, to: 5 });
  });

  it('does not hand a leadership to a process that leads another partition', () => {
    // Three partitions over processes [1,4,7], [2,5,8], [3,6,9]: partition 1 is led from process 2's group.
    const three: Topology = { ...two, partitions: 3, replicas: [...two.replicas, ...[7, 8, 9].map((id, i) => ({ ...two.replicas[i]!, id, partition: 2, clientPort: 20_000 + id, raftPort: 30_000 + id }))] };
    const hosted = [leader(1, 0, [[2, 100], [3, 100]]), follower(4, 1, 5), leader(7, 2, [[8, 100], [9, 95]])];
    expect(spreadMove(hosted, layout(three, [1, 4, 7]))).toEqual({ from: 7, partition: 2, to: 9 });
  });

  it('outside the colocated layout knows only its own replicas and the leaders it hears of', () => {
    // Hosting 1 and 6 is not a group of the layout: 5's process is unknown, so 5 is only "not a leader".
    const hosted = [leader(1, 0, [[2, 100], [3, 100]]), leader(6, 1, [[4, 100], [5, 100]])];
    expect(spreadMove(hosted, layout(two, [1, 6]))?.from).toBe(6);
  });
});
