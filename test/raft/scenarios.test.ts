// Scenario tests that pin the exact message sequence (type from->to term index) of each protocol.
import { describe, expect, it } from 'vitest';
import { RaftNode, DEFAULT_OPTIONS, type Message } from '../../src/raft/core/index.js';
import { TestCluster, drain, enc, fmt, nodeWithLog } from './harness.js';

/** Delivered messages since `mark` as "Type from->to tTerm iIndex [reject]" (heartbeats excluded unless asked). */
function seq(c: TestCluster, mark: number, withHeartbeats = false): string[] {
  return c.delivered
    .slice(mark)
    .filter((m) => withHeartbeats || (m.type !== 'Heartbeat' && m.type !== 'HeartbeatResp'))
    .map(fmt);
}

/** Ticks the cluster through one heartbeat interval and delivers what it sends. */
function heartbeat(c: TestCluster): void {
  c.tickAll(DEFAULT_OPTIONS.heartbeat_interval_ticks);
  c.stabilize();
}

describe('scenario: election', () => {
  it('PreVote round, then Vote round, then the no-op and its commit', () => {
    const c = new TestCluster([1, 2, 3]);
    c.node(1).campaign();
    c.stabilize();
    expect(seq(c, 0)).toEqual([
      'PreVote 1->2 t1 i0',
      'PreVote 1->3 t1 i0',
      'PreVoteResp 2->1 t1 i0',
      'PreVoteResp 3->1 t1 i0',
      'Vote 1->2 t1 i0',
      'Vote 1->3 t1 i0',
      'VoteResp 2->1 t1 i0',
      'VoteResp 3->1 t1 i0',
      'App 1->2 t1 i0',
      'App 1->3 t1 i0',
      'AppResp 2->1 t1 i1',
      'AppResp 3->1 t1 i1',
    ]);
    expect(c.node(1).role).toBe('leader');
    // The followers learn the commit index from the next heartbeat, not from an empty append.
    expect(c.node(1).commitIndex).toBe(1);
    heartbeat(c);
    for (const id of [1, 2, 3]) expect(c.node(id).commitIndex).toBe(1);
  });
});

describe('scenario: replication', () => {
  it('one append round trip commits; the next heartbeat carries the commit index', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    const mark = c.delivered.length;
    c.node(1).propose(enc('x'));
    c.stabilize();
    expect(seq(c, mark)).toEqual([
      'App 1->2 t1 i1',
      'App 1->3 t1 i1',
      'AppResp 2->1 t1 i2',
      'AppResp 3->1 t1 i2',
    ]);
    expect(c.node(1).commitIndex).toBe(2);
    expect(c.node(2).commitIndex).toBe(1);
    heartbeat(c);
    for (const id of [2, 3]) expect(c.node(id).commitIndex).toBe(2);
  });

  it('proposals made between two Ready cycles travel in one message', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    for (let i = 0; i < 10; i++) c.node(1).propose(enc(`p${i}`));
    const apps = c.collect().filter((m) => m.type === 'App');
    expect(apps.map((m) => [m.to, m.entries.length])).toEqual([
      [2, 10],
      [3, 10],
    ]);
  });

  it('pipelining stops at the inflight bound and resumes on acknowledgement', () => {
    const c = new TestCluster([1, 2, 3], { max_inflight_msgs: 2, max_entries_per_msg: 1 });
    c.elect(1);
    for (let i = 0; i < 5; i++) c.node(1).propose(enc(`p${i}`));
    const apps = c.collect().filter((m) => m.type === 'App' && m.to === 2);
    expect(apps.map((m) => m.entries.map((e) => e.index))).toEqual([[2], [3]]);
    c.stabilize();
    expect(c.node(1).commitIndex).toBe(6);
  });
});

describe('scenario: conflict repair', () => {
  it('a follower with a divergent tail is repaired in one backtracking round trip', () => {
    const opts = { pre_vote: false, check_quorum: false };
    const c = new TestCluster([1, 2, 3], opts);
    c.nodes.set(1, nodeWithLog(1, [1, 2, 3], [1, 1], { term: 2 }, opts));
    c.nodes.set(2, nodeWithLog(2, [1, 2, 3], [1, 1], { term: 2 }, opts));
    // Node 3 led term 2 and wrote entries 2..4 nobody else has.
    c.nodes.set(3, nodeWithLog(3, [1, 2, 3], [1, 2, 2, 2], { term: 2, vote: 3 }, opts));
    c.node(1).campaign();
    c.stabilize();
    expect(seq(c, 0)).toEqual([
      'Vote 1->2 t3 i2',
      'Vote 1->3 t3 i2',
      'VoteResp 2->1 t3 i0',
      'VoteResp 3->1 t3 i0 reject',
      'App 1->2 t3 i2',
      'App 1->3 t3 i2',
      'AppResp 2->1 t3 i3',
      'AppResp 3->1 t3 i2 reject',
      'App 1->3 t3 i1',
      'AppResp 3->1 t3 i3',
    ]);
    expect(c.node(3).termAt(2)).toBe(1);
    expect(c.node(3).termAt(3)).toBe(3);
    expect(c.node(3).status().lastIndex).toBe(3);
  });

  it('fast backtracking skips a whole conflicting term instead of one entry per round trip', () => {
    const opts = { pre_vote: false, check_quorum: false };
    const c = new TestCluster([1, 2, 3], opts);
    // The leader has 52 entries of term 1; node 3 has entries 2..51 of term 2 nobody else has.
    const leaderLog = Array<number>(52).fill(1);
    const divergent = [1, ...Array<number>(50).fill(2)];
    c.nodes.set(1, nodeWithLog(1, [1, 2, 3], leaderLog, { term: 2 }, opts));
    c.nodes.set(2, nodeWithLog(2, [1, 2, 3], leaderLog, { term: 2 }, opts));
    c.nodes.set(3, nodeWithLog(3, [1, 2, 3], divergent, { term: 2 }, opts));
    c.node(1).campaign();
    c.stabilize();
    const rejects = c.delivered.filter((m) => m.type === 'AppResp' && m.from === 3 && m.reject);
    // One reject says "my log ends at 51", the next "term 2 starts at my index 2"; entry-by-entry
    // backtracking would need 51.
    expect(rejects.map((m) => [m.index, m.rejectHint, m.logTerm])).toEqual([
      [52, 52, 0],
      [51, 2, 2],
    ]);
    expect(c.node(3).status().lastIndex).toBe(53);
    expect(c.node(3).termAt(2)).toBe(1);
  });
});

describe('scenario: PreVote', () => {
  it('a partitioned node does not inflate its term and cannot disrupt a healthy leader', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    c.isolate(3);
    for (let i = 0; i < 100; i++) c.node(3).tick();
    c.collect();
    c.pending = [];
    expect(c.node(3).term).toBe(1); // pre-candidate over and over, never a real candidate
    expect(c.node(3).role).toBe('preCandidate');
    c.heal();
    const mark = c.delivered.length;
    c.node(3).campaign();
    c.stabilize();
    // Both peers still hear from the leader, so they ignore the pre-vote.
    expect(seq(c, mark)).toEqual(['PreVote 3->1 t2 i1', 'PreVote 3->2 t2 i1']);
    const hbMark = c.delivered.length;
    c.node(1).tick();
    c.stabilize();
    expect(seq(c, hbMark, true)).toEqual([
      'Heartbeat 1->2 t1 i0',
      'Heartbeat 1->3 t1 i0',
      'HeartbeatResp 2->1 t1 i0',
      'HeartbeatResp 3->1 t1 i0',
    ]);
    expect(c.node(3).role).toBe('follower');
    expect(c.node(1).role).toBe('leader');
    expect(c.node(1).term).toBe(1);
  });

  it('without PreVote the same partition disrupts the leader on return', () => {
    const c = new TestCluster([1, 2, 3], { pre_vote: false, check_quorum: false });
    c.elect(1);
    c.isolate(3);
    for (let i = 0; i < 100; i++) c.node(3).tick();
    c.collect();
    c.pending = [];
    expect(c.node(3).term).toBeGreaterThan(1);
    c.heal();
    c.node(3).campaign(); // its election timer fires again
    c.stabilize();
    expect(c.node(1).term).toBeGreaterThan(1);
    expect(c.node(1).role).toBe('follower');
    expect(c.node(1).status().lastStepDown?.term).toBe(1);
    expect(c.node(1).status().lastStepDown?.reason).toMatch(/^heard the higher term \d+ from 3 \((Vote|PreVote)\)$/);
    expect(c.node(2).status().lastStepDown, 'a node that never led has no step-down').toBeUndefined();
  });
});

describe('scenario: a dead leader', () => {
  const opts = { election_timeout_ticks: 10, heartbeat_interval_ticks: 2 };

  /** Leader 1 dies: cut off, and both followers told its connection closed. */
  function leaderDied(): TestCluster {
    const c = new TestCluster([1, 2, 3], opts);
    c.elect(1);
    heartbeat(c);
    c.isolate(1);
    c.node(2).leaderLinkLost(1);
    c.node(3).leaderLinkLost(1);
    return c;
  }

  it("its followers, told its connection closed, elect a new leader within a few ticks, not an election timeout", () => {
    const c = leaderDied();
    let ticks = 0;
    const newLeader = () => [2, 3].find((id) => c.node(id).role === 'leader');
    while (newLeader() === undefined && ticks < 100) {
      c.tickAll(1);
      c.stabilize();
      ticks++;
    }
    expect(ticks, 'ticks until a new leader').toBeLessThanOrEqual(3);
    expect(c.node(newLeader()!).term).toBe(2);
  });

  it('two pre-candidates with the same log at once: the lower id wins, the real vote does not split', () => {
    const c = leaderDied();
    c.node(3).campaign();
    c.node(2).campaign();
    c.stabilize();
    expect(c.node(2).role).toBe('leader');
    expect(c.node(2).term, 'won at the first real vote').toBe(2);
    expect(c.node(3).role).toBe('follower');
  });

  it('a follower told so of a live leader follows it again at its next heartbeat, and the leader stays', () => {
    const c = new TestCluster([1, 2, 3], opts);
    c.elect(1);
    c.node(2).leaderLinkLost(1);
    expect(c.node(2).leaderId).toBe(0);
    for (let i = 0; i < 5; i++) {
      c.tickAll(1);
      c.stabilize();
    }
    expect(c.node(1).role).toBe('leader');
    expect(c.node(1).term).toBe(1);
    expect(c.node(2).leaderId).toBe(1);
  });

  it('a pre-candidate asks again, every heartbeat interval, the voters whose lease ignored it', () => {
    const c = new TestCluster([1, 2, 3], opts);
    c.elect(1);
    heartbeat(c);
    c.isolate(1);
    // Node 2 times out first; node 3 heard the leader a tick ago and ignores the pre-vote.
    for (let i = 0; i < 9; i++) c.node(2).tick();
    c.node(2).campaign();
    c.stabilize();
    expect(c.node(2).role).toBe('preCandidate');
    const mark = c.delivered.length;
    let ticks = 0;
    while (c.node(2).role !== 'leader' && ticks < 30) {
      c.tickAll(1);
      c.stabilize();
      ticks++;
    }
    expect(c.node(2).role).toBe('leader');
    // Node 3's lease ends 10 ticks after it last heard the leader; node 2 asked again then, not after a new timeout of 10–19 ticks.
    expect(ticks).toBeLessThanOrEqual(10 + opts.heartbeat_interval_ticks);
    expect(seq(c, mark).filter((m) => m.startsWith('PreVote 2->3')).length, 'asked again').toBeGreaterThan(1);
  });
});

describe('scenario: CheckQuorum', () => {
  it('a leader that hears from no majority for an election timeout steps down', () => {
    const c = new TestCluster([1, 2, 3], { election_timeout_ticks: 10, heartbeat_interval_ticks: 1 });
    c.elect(1);
    c.isolate(1);
    const emitted: string[] = [];
    let ticks = 0;
    while (c.node(1).role === 'leader' && ticks < 100) {
      c.node(1).tick();
      ticks++;
      emitted.push(...c.collect().filter((m) => m.from === 1).map(fmt));
    }
    c.pending = [];
    // Last heard from both followers at election time: exactly one election timeout later it
    // steps down, after nine heartbeat rounds nobody answered.
    expect(ticks).toBe(10);
    expect(emitted).toEqual(
      Array.from({ length: 9 }, () => ['Heartbeat 1->2 t1 i0', 'Heartbeat 1->3 t1 i0']).flat(),
    );
    // It says why, for logs and ecom status.
    expect(c.node(1).status().lastStepDown).toEqual({ term: 1, reason: 'heard from no quorum for 10 ticks (check-quorum)' });
    expect(c.node(1).role).toBe('follower');
    expect(c.node(1).term).toBe(1);
  });

  it('a leader with a live majority stays leader', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    c.isolate(3);
    for (let i = 0; i < 50; i++) {
      c.node(1).tick();
      c.node(2).tick();
      c.stabilize();
    }
    expect(c.node(1).role).toBe('leader');
  });
});

describe('scenario: leadership transfer', () => {
  it('to an up-to-date follower: TimeoutNow, a forced election, the new no-op', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    const mark = c.delivered.length;
    c.node(1).transferLeadership(2);
    c.stabilize();
    expect(seq(c, mark)).toEqual([
      'TimeoutNow 1->2 t1 i0',
      'Vote 2->1 t2 i1',
      'Vote 2->3 t2 i1',
      'VoteResp 1->2 t2 i0',
      'VoteResp 3->2 t2 i0',
      'App 2->1 t2 i1',
      'App 2->3 t2 i1',
      'AppResp 1->2 t2 i2',
      'AppResp 3->2 t2 i2',
    ]);
    expect(c.node(2).role).toBe('leader');
    expect(c.node(1).role).toBe('follower');
  });

  it('to a lagging follower: catch it up first, then TimeoutNow', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    c.isolate(3);
    c.node(1).propose(enc('x'));
    c.stabilize();
    c.heal();
    const mark = c.delivered.length;
    c.node(1).transferLeadership(3);
    expect(() => c.node(1).propose(enc('refused'))).toThrow(/TransferInProgress/);
    c.stabilize();
    expect(seq(c, mark).slice(0, 6)).toEqual([
      'App 1->3 t1 i2',
      'AppResp 3->1 t1 i2 reject',
      'App 1->3 t1 i1',
      'AppResp 3->1 t1 i2',
      'TimeoutNow 1->3 t1 i0',
      'Vote 3->1 t2 i2',
    ]);
    expect(c.node(3).role).toBe('leader');
  });

  it('is abandoned after an election timeout when the target does not answer', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    c.cutLink(1, 3);
    c.node(1).transferLeadership(3);
    for (let i = 0; i < 10; i++) {
      c.node(1).tick();
      c.node(2).tick();
      c.stabilize();
    }
    expect(c.node(1).role).toBe('leader');
    expect(c.node(1).status().leadTransferee).toBe(0);
    expect(() => c.node(1).propose(enc('accepted again'))).not.toThrow();
  });
});

describe('scenario: snapshot install', () => {
  it('a follower behind the compacted log gets the snapshot, then ordinary appends', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    c.isolate(3);
    for (const s of ['a', 'b', 'c']) c.node(1).propose(enc(s));
    c.stabilize();
    c.node(1).tick();
    c.stabilize();
    const leader = c.node(1);
    expect(leader.appliedIndex).toBe(4);
    leader.compact(4, enc('state@4'));
    expect(leader.status().firstIndex).toBe(5);
    c.heal();
    const mark = c.delivered.length;
    leader.tick();
    c.stabilize();
    expect(seq(c, mark, true)).toEqual([
      'Heartbeat 1->2 t1 i0',
      'Heartbeat 1->3 t1 i0',
      'HeartbeatResp 2->1 t1 i0',
      'HeartbeatResp 3->1 t1 i0',
      'App 1->3 t1 i4',
      'AppResp 3->1 t1 i4 reject',
      'Snap 1->3 t1 i0',
      'AppResp 3->1 t1 i4',
    ]);
    expect(c.snapshotsApplied.get(3)!.map((s) => [s.meta.index, s.meta.term])).toEqual([[4, 1]]);
    expect(c.node(3).appliedIndex).toBe(4);
    c.node(1).propose(enc('d'));
    c.stabilize();
    c.node(1).tick();
    c.stabilize();
    // Index 1 was applied before the partition; 2..4 arrived inside the snapshot.
    expect(c.applied.get(3)!.map((e) => e.index)).toEqual([1, 5]);
  });
});

describe('scenario: a follower that lost its acknowledged log', () => {
  it('is probed once a heartbeat, not at every refusal, and named in the status', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    for (const s of ['a', 'b', 'c']) c.node(1).propose(enc(s));
    c.stabilize();
    const leader = c.node(1);
    expect(leader.status().followers?.find((f) => f.id === 3)?.match).toBe(4);
    // Replica 3 starts again from an emptied folder under the same id; the next write finds it out.
    c.add(3, { voters: [1, 2, 3], learners: [] });
    const mark = c.delivered.length;
    leader.propose(enc('d'));
    // Refusal and resend used to ping-pong until the network never went quiet.
    c.stabilize(50);
    const toThree = () => c.delivered.slice(mark).filter((m) => m.type === 'App' && m.to === 3).length;
    expect(toThree()).toBe(1);
    // The partition still commits, on 1 and 2.
    expect(leader.commitIndex).toBe(5);
    // One probe per heartbeat answer from then on; named once three in a row were refused
    // (a refusal delayed past the acknowledgement looks the same once).
    expect(leader.lostLogNotices).toBe(0);
    for (let beat = 0; beat < 5; beat++) {
      leader.tick();
      c.stabilize(50);
      expect(leader.lostLogNotices).toBe(beat < 1 ? 0 : 1);
    }
    expect(toThree()).toBe(6);
    expect(leader.status().followers?.find((f) => f.id === 3)).toMatchObject({ match: 4, logEnd: 0, state: 'probe' });
    expect(c.node(2).appliedIndex).toBe(5);
  });
});

describe('scenario: a follower that lost its log, behind a compaction', () => {
  it('gets a snapshot, even after the first was lost, and is named for nothing', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    const leader = c.node(1);
    leader.propose(enc('a'));
    c.stabilize();
    // 3 acknowledged 2, then lost its folder; meanwhile the log went on and was compacted past 2.
    c.isolate(3);
    for (const s of ['b', 'c', 'd']) leader.propose(enc(s));
    c.stabilize();
    leader.compact(5, enc('state@5'));
    c.add(3, { voters: [1, 2, 3], learners: [] });
    c.heal();
    // The first snapshot is lost on its way. The leader sends again after an election timeout,
    // probing from after that snapshot, where the empty follower refuses.
    let lost = 0;
    const loseFirstSnapshot = (m: Message) => m.type === 'Snap' && lost === 0 && ++lost === 1;
    for (let t = 0; t < 3 * DEFAULT_OPTIONS.election_timeout_ticks && c.node(3).appliedIndex < 5; t++) {
      leader.tick();
      c.stabilize(50, loseFirstSnapshot);
    }
    expect(lost).toBe(1);
    expect(c.node(3).appliedIndex).toBe(5);
    expect(leader.lostLogNotices).toBe(0);
  });
});

describe('scenario: a refusal delayed past the acknowledgement', () => {
  it('costs that follower a heartbeat, and names nothing', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    const leader = c.node(1);
    // Two appends in flight to 3, the second overtaking the first: 3 refuses it (its log ends
    // before it), then takes the first and acknowledges; the refusal arrives last.
    leader.propose(enc('a'));
    const first = c.collect().filter((m) => m.type === 'App' && m.to === 3);
    leader.propose(enc('b'));
    const second = c.collect().filter((m) => m.type === 'App' && m.to === 3);
    c.pending = c.pending.filter((m) => m.to !== 3);
    expect([first.length, second.length]).toEqual([1, 1]);
    c.deliver(second[0]!);
    const refusal = c.collect().filter((m) => m.to === 1);
    expect(refusal.map((m) => [m.type, m.reject])).toEqual([['AppResp', true]]);
    c.pending = c.pending.filter((m) => m !== refusal[0]);
    c.deliver(first[0]!);
    c.stabilize();
    expect(leader.status().followers?.find((f) => f.id === 3)?.match).toBe(2);
    c.deliver(refusal[0]!);
    c.stabilize();
    leader.tick();
    c.stabilize();
    expect(leader.lostLogNotices).toBe(0);
    expect(leader.status().followers?.find((f) => f.id === 3)).toMatchObject({ match: 3, state: 'replicate' });
    expect(leader.status().followers?.find((f) => f.id === 3)?.logEnd).toBeUndefined();
  });
});

describe('scenario: membership change', () => {
  it('a learner is added, catches up without voting, is promoted, and a voter is removed', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    c.add(4, { voters: [], learners: [] });
    const mark = c.delivered.length;
    c.node(1).proposeConfChange({ type: 'addLearner', node: 4 });
    c.stabilize();
    expect(seq(c, mark)).toEqual([
      'App 1->2 t1 i1',
      'App 1->3 t1 i1',
      'AppResp 2->1 t1 i2',
      'AppResp 3->1 t1 i2',
      // The new learner is probed as soon as the change is in force.
      'App 1->4 t1 i2',
      'AppResp 4->1 t1 i2 reject',
      'App 1->4 t1 i0',
      'AppResp 4->1 t1 i2',
    ]);
    expect(c.node(1).membership).toEqual({ voters: [1, 2, 3], learners: [4] });
    expect(c.node(4).membership).toEqual({ voters: [1, 2, 3], learners: [4] });
    // A learner never campaigns.
    for (let i = 0; i < 100; i++) c.node(4).tick();
    expect(c.node(4).role).toBe('follower');
    c.collect();
    c.pending = [];

    c.node(1).proposeConfChange({ type: 'promote', node: 4 });
    c.stabilize();
    c.node(1).tick();
    c.stabilize();
    for (const id of [1, 2, 3, 4]) expect(c.node(id).membership).toEqual({ voters: [1, 2, 3, 4], learners: [] });

    c.node(1).proposeConfChange({ type: 'remove', node: 3 });
    c.stabilize();
    expect(c.node(1).membership.voters).toEqual([1, 2, 4]);
    // The new quorum {1,2,4} commits without node 3.
    c.isolate(3);
    const idx = c.node(1).propose(enc('after removal'));
    c.stabilize();
    expect(c.node(1).commitIndex).toBe(idx);
  });

  it('refuses to promote a learner that has not caught up, and a second change while one is pending', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    c.add(4, { voters: [], learners: [] });
    c.isolate(4);
    c.node(1).proposeConfChange({ type: 'addLearner', node: 4 });
    expect(() => c.node(1).proposeConfChange({ type: 'remove', node: 2 })).toThrow(/ConfChangePending/);
    c.stabilize();
    expect(() => c.node(1).proposeConfChange({ type: 'promote', node: 4 })).toThrow(/LearnerNotCaughtUp/);
    expect(() => c.node(1).proposeConfChange({ type: 'promote', node: 2 })).toThrow(/ConfChangeInvalid/);
  });

  it('a leader that removes itself steps down once the change commits', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    c.node(1).proposeConfChange({ type: 'remove', node: 1 });
    c.stabilize();
    expect(c.node(1).role).toBe('follower');
    for (let i = 0; i < 30; i++) c.node(1).tick();
    expect(c.node(1).role).toBe('follower'); // not a voter: never campaigns
    // It told the others the change committed and handed leadership to a caught-up voter.
    expect(c.node(2).membership.voters).toEqual([2, 3]);
    expect(c.node(2).role).toBe('leader');
  });
});

describe('scenario: ReadIndex', () => {
  it('one heartbeat round confirms leadership; reads arriving meanwhile share the next round', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    const mark = c.delivered.length;
    c.node(1).readIndex(100);
    c.collect(); // round 1 heartbeats are now in flight
    c.node(1).readIndex(101);
    c.node(1).readIndex(102);
    c.node(1).readIndex(103);
    c.stabilize();
    const rounds = c.delivered.slice(mark).filter((m) => m.type === 'Heartbeat').map((m) => m.context);
    expect(rounds).toEqual([1, 1, 2, 2]);
    expect(c.readStates.get(1)).toEqual([
      { ctx: 100, index: 1, ok: true },
      { ctx: 101, index: 1, ok: true },
      { ctx: 102, index: 1, ok: true },
      { ctx: 103, index: 1, ok: true },
    ]);
  });

  it('a leader cut off from its majority never confirms, and fails the reads when it steps down', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    c.isolate(1);
    c.node(1).readIndex(7);
    for (let i = 0; i < 20; i++) {
      c.node(1).tick();
      c.stabilize();
    }
    expect(c.node(1).role).toBe('follower');
    expect(c.readStates.get(1)).toEqual([{ ctx: 7, index: 0, ok: false }]);
  });

  it('a read waits until the new leader has committed an entry of its term', () => {
    const n = nodeWithLog(1, [1, 2, 3], [1, 1], { term: 1, commit: 1 });
    n.campaign();
    n.step({ ...n.status(), type: 'VoteResp', from: 2, to: 1, term: 2, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, context: 0, snapshot: undefined });
    expect(n.role).toBe('leader');
    n.readIndex(9);
    const hb = drain(n).messages.filter((m) => m.type === 'Heartbeat');
    expect(hb).toEqual([]); // no round before the no-op commits
    n.step({ type: 'AppResp', from: 2, to: 1, term: 2, logTerm: 0, index: 3, entries: [], commit: 0, reject: false, rejectHint: 0, context: 0, snapshot: undefined });
    const out = drain(n).messages.filter((m) => m.type === 'Heartbeat');
    expect(out.map((m) => [m.to, m.context])).toEqual([
      [2, 1],
      [3, 1],
    ]);
  });
});

describe('restart', () => {
  it('re-applies committed entries after a restart unless the state machine says it already has them', () => {
    const mk = (appliedIndex?: number) =>
      new RaftNode(
        { ...DEFAULT_OPTIONS, id: 1, random_int: () => 0 },
        {
          hardState: { term: 2, vote: 1, commit: 3 },
          snapshot: undefined,
          entries: [1, 2, 3, 4].map((index) => ({ term: 2, index, kind: 'normal' as const, data: enc(`e${index}`) })),
          bootstrap: { voters: [1, 2, 3], learners: [] },
          ...(appliedIndex === undefined ? {} : { appliedIndex }),
        },
      );
    expect(drain(mk()).committed.map((e) => e.index)).toEqual([1, 2, 3]);
    expect(drain(mk(2)).committed.map((e) => e.index)).toEqual([3]);
    expect(drain(mk(9)).committed.map((e) => e.index)).toEqual([]); // capped at commit
  });
});

describe('bounded queues refuse explicitly', () => {
  it('proposals beyond max_uncommitted_bytes, oversized entries, and proposals to a follower', () => {
    const c = new TestCluster([1, 2, 3], { max_uncommitted_bytes: 10, max_entry_bytes: 8 });
    c.elect(1);
    c.isolate(1);
    c.node(1).propose(enc('12345678'));
    expect(() => c.node(1).propose(enc('123'))).toThrow(/ProposalQueueFull/);
    expect(() => c.node(1).propose(enc('123456789'))).toThrow(/ProposalTooLarge/);
    try {
      c.node(2).propose(enc('x'));
      expect.unreachable();
    } catch (e) {
      expect(e).toMatchObject({ code: 'NotLeader', leaderHint: 1 });
    }
  });

  it('empty proposals beyond max_uncommitted_entries', () => {
    const c = new TestCluster([1, 2, 3], { max_uncommitted_entries: 3 });
    c.elect(1);
    c.isolate(1);
    for (let i = 0; i < 3; i++) c.node(1).propose(new Uint8Array(0));
    expect(() => c.node(1).propose(new Uint8Array(0))).toThrow(/ProposalQueueFull/);
  });

  it('reads beyond max_pending_reads', () => {
    const c = new TestCluster([1, 2, 3], { max_pending_reads: 2 });
    c.elect(1);
    c.isolate(1);
    c.node(1).readIndex(1);
    c.node(1).readIndex(2);
    expect(() => c.node(1).readIndex(3)).toThrow(/ReadQueueFull/);
  });

  it('input beyond max_outbox_msgs until the driver drains ready()', () => {
    const node = new RaftNode(
      { ...DEFAULT_OPTIONS, id: 1, max_outbox_msgs: 4, random_int: () => 0 },
      { hardState: { term: 0, vote: 0, commit: 0 }, snapshot: undefined, entries: [], bootstrap: { voters: [1, 2, 3], learners: [] } },
    );
    node.campaign(); // 2 PreVotes
    node.step({ type: 'PreVote', from: 2, to: 1, term: 5, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, context: 0, snapshot: undefined });
    node.step({ type: 'PreVote', from: 3, to: 1, term: 5, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, context: 0, snapshot: undefined });
    expect(() => node.tick()).toThrow(/OutboxFull/);
    drain(node);
    expect(() => node.tick()).not.toThrow();
  });
});
