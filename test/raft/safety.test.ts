// The safety arguments of §5.4: election restriction, commitment by counting only in the current
// term (Figure 8), and leader completeness.
import { describe, expect, it } from 'vitest';
import { TestCluster, drain, enc, msg, nodeWithLog } from './harness.js';

describe('§5.4 safety', () => {
  it('Election restriction: a candidate whose log lacks committed entries cannot win', () => {
    const c = new TestCluster([1, 2, 3], { pre_vote: false, check_quorum: false });
    c.elect(1);
    c.isolate(3);
    c.node(1).propose(enc('committed-without-3'));
    c.stabilize();
    c.tickAll(1);
    c.stabilize();
    expect(c.node(1).commitIndex).toBe(2);
    // Node 1 goes away; node 3 (stale) campaigns and reaches node 2 only.
    c.heal();
    c.isolate(1);
    c.node(3).campaign();
    c.stabilize();
    expect(c.node(3).role).not.toBe('leader');
    const answers = c.delivered.filter((m) => m.type === 'VoteResp' && m.to === 3);
    expect(answers.map((m) => [m.from, m.reject])).toEqual([[2, true]]);
    // Node 2, which has the entry, can win with node 3's vote.
    c.node(2).campaign();
    c.stabilize();
    expect(c.node(2).role).toBe('leader');
  });

  it('Commitment: a leader never commits an entry of an earlier term by counting replicas (Figure 8)', () => {
    // Node 1 was leader in term 2 and wrote index 2 (term 2) to itself only; it is elected again
    // in term 4. Index 2 reaching a majority must not commit it.
    const leader = nodeWithLog(1, [1, 2, 3, 4, 5], [1, 2], { term: 3, commit: 1 });
    leader.campaign();
    for (const v of [2, 3]) leader.step(msg({ type: 'VoteResp', from: v, to: 1, term: 4 }));
    expect(leader.role).toBe('leader');
    drain(leader); // persists the term-4 no-op at index 3
    leader.step(msg({ type: 'AppResp', from: 2, to: 1, term: 4, index: 2 }));
    leader.step(msg({ type: 'AppResp', from: 3, to: 1, term: 4, index: 2 }));
    expect(leader.commitIndex).toBe(1);
    // Once the current-term entry reaches a majority, everything before it commits with it.
    leader.step(msg({ type: 'AppResp', from: 2, to: 1, term: 4, index: 3 }));
    leader.step(msg({ type: 'AppResp', from: 3, to: 1, term: 4, index: 3 }));
    expect(leader.commitIndex).toBe(3);
  });

  it('Commitment: earlier-term entries reach followers and commit through the no-op of the new term', () => {
    const c = new TestCluster([1, 2, 3], { pre_vote: false, check_quorum: false });
    c.elect(1);
    c.isolate(2);
    c.isolate(3);
    c.node(1).propose(enc('left-over'));
    c.collect();
    c.pending = []; // lost: only node 1 has index 2 (term 1)
    c.heal();
    c.isolate(1);
    c.node(2).campaign();
    c.stabilize();
    expect(c.node(2).role).toBe('leader');
    expect(c.node(2).term).toBe(2);
    // Node 1 returns: its uncommitted term-1 entry at index 2 is overwritten by node 2's no-op.
    c.heal();
    c.tickAll(1);
    c.stabilize();
    expect(c.node(1).termAt(2)).toBe(2);
    expect(c.node(1).commitIndex).toBe(2);
  });

  it('Leader completeness: every later leader holds every committed entry', () => {
    const c = new TestCluster([1, 2, 3, 4, 5], { pre_vote: false, check_quorum: false });
    c.elect(1);
    const committed: number[] = [];
    for (let round = 0; round < 5; round++) {
      const leader = c.leader()!;
      committed.push(leader.propose(enc(`r${round}`)));
      c.stabilize();
      c.tickAll(1);
      c.stabilize();
      expect(leader.commitIndex).toBeGreaterThanOrEqual(committed[committed.length - 1]!);
      // Depose the leader; whichever node wins next must have every committed entry.
      const old = leader.id;
      c.isolate(old);
      const candidates = [...c.nodes.keys()].filter((id) => id !== old);
      for (const id of candidates) {
        c.node(id).campaign();
        c.stabilize();
        if (c.node(id).role === 'leader') break;
      }
      // (The isolated old leader still believes it leads its older term.)
      const next = [...c.nodes.values()].find((n) => n.role === 'leader' && n.id !== old)!;
      expect(next.term).toBeGreaterThan(c.node(old).term);
      for (const idx of committed) expect(next.termAt(idx)).toBe(c.node(old).termAt(idx));
      c.heal();
      c.tickAll(1);
      c.stabilize();
    }
  });
});
