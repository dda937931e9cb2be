// One test per rule of Figure 2 of the Raft paper (and the persistence rule it implies).
import { describe, expect, it } from 'vitest';
import { TestCluster, drain, enc, entriesWithTerms, msg, nodeWithLog } from './harness.js';

describe('Figure 2 — RequestVote receiver', () => {
  it('RequestVote: reply false if term < currentTerm', () => {
    const n = nodeWithLog(1, [1, 2, 3], [1], { term: 5 });
    n.step(msg({ type: 'Vote', from: 2, to: 1, term: 4, index: 10, logTerm: 4 }));
    // Lower-term vote requests are ignored: no grant is ever sent.
    expect(drain(n).messages.filter((m) => m.type === 'VoteResp' && !m.reject)).toEqual([]);
    expect(n.term).toBe(5);
  });

  it('RequestVote: grant if votedFor is null and candidate log is at least as up-to-date', () => {
    const n = nodeWithLog(1, [1, 2, 3], [1, 1], { term: 1 });
    n.step(msg({ type: 'Vote', from: 2, to: 1, term: 2, index: 2, logTerm: 1 }));
    const out = drain(n).messages;
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ type: 'VoteResp', to: 2, term: 2, reject: false });
    expect(n.status().vote).toBe(2);
  });

  it('RequestVote: grant again to the candidate already voted for (votedFor = candidateId)', () => {
    const n = nodeWithLog(1, [1, 2, 3], [1], { term: 2, vote: 2 });
    n.step(msg({ type: 'Vote', from: 2, to: 1, term: 2, index: 1, logTerm: 1 }));
    expect(drain(n).messages[0]).toMatchObject({ type: 'VoteResp', reject: false });
  });

  it('RequestVote: refuse a second candidate in the same term', () => {
    const n = nodeWithLog(1, [1, 2, 3], [1], { term: 2, vote: 2 });
    n.step(msg({ type: 'Vote', from: 3, to: 1, term: 2, index: 1, logTerm: 1 }));
    expect(drain(n).messages[0]).toMatchObject({ type: 'VoteResp', to: 3, reject: true });
    expect(n.status().vote).toBe(2);
  });

  it("RequestVote: grant only if candidate's log is at least as up-to-date (older last term refused)", () => {
    const n = nodeWithLog(1, [1, 2, 3], [1, 2], { term: 2 });
    n.step(msg({ type: 'Vote', from: 2, to: 1, term: 3, index: 5, logTerm: 1 }));
    expect(drain(n).messages[0]).toMatchObject({ type: 'VoteResp', reject: true });
    expect(n.term).toBe(3); // the higher term is still adopted
  });

  it("RequestVote: grant only if candidate's log is at least as up-to-date (same term, shorter log refused)", () => {
    const n = nodeWithLog(1, [1, 2, 3], [1, 1, 1], { term: 1 });
    n.step(msg({ type: 'Vote', from: 2, to: 1, term: 2, index: 2, logTerm: 1 }));
    expect(drain(n).messages[0]).toMatchObject({ type: 'VoteResp', reject: true });
  });

  it('RequestVote: a newer last term wins even with a shorter log', () => {
    const n = nodeWithLog(1, [1, 2, 3], [1, 1, 1], { term: 1 });
    n.step(msg({ type: 'Vote', from: 2, to: 1, term: 3, index: 2, logTerm: 2 }));
    expect(drain(n).messages[0]).toMatchObject({ type: 'VoteResp', reject: false });
  });
});

describe('Figure 2 — AppendEntries receiver', () => {
  it('AppendEntries: reply false if term < currentTerm', () => {
    const n = nodeWithLog(1, [1, 2, 3], [1], { term: 3 }, { check_quorum: true });
    n.step(msg({ type: 'App', from: 2, to: 1, term: 2, index: 1, logTerm: 1, entries: entriesWithTerms([2], 2) }));
    const out = drain(n).messages;
    // The stale leader is told the newer term and nothing is appended.
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ type: 'AppResp', to: 2, term: 3 });
    expect(n.status().lastIndex).toBe(1);
  });

  it("AppendEntries: reply false if log doesn't contain an entry at prevLogIndex whose term matches prevLogTerm", () => {
    const n = nodeWithLog(1, [1, 2, 3], [1, 1], { term: 2 });
    n.step(msg({ type: 'App', from: 2, to: 1, term: 2, index: 2, logTerm: 2, entries: entriesWithTerms([2], 3) }));
    const out = drain(n).messages;
    expect(out[0]).toMatchObject({ type: 'AppResp', reject: true, index: 2 });
    expect(n.status().lastIndex).toBe(2);
    // Missing entry entirely (prevLogIndex beyond our log):
    n.step(msg({ type: 'App', from: 2, to: 1, term: 2, index: 5, logTerm: 2 }));
    expect(drain(n).messages[0]).toMatchObject({ type: 'AppResp', reject: true, index: 5, rejectHint: 3 });
  });

  it('AppendEntries: if an existing entry conflicts with a new one, delete it and all that follow', () => {
    const n = nodeWithLog(1, [1, 2, 3], [1, 1, 1, 1], { term: 2 });
    n.step(msg({ type: 'App', from: 2, to: 1, term: 2, index: 1, logTerm: 1, entries: entriesWithTerms([2], 2) }));
    expect(drain(n).messages[0]).toMatchObject({ type: 'AppResp', reject: false, index: 2 });
    expect(n.status().lastIndex).toBe(2);
    expect(n.termAt(2)).toBe(2);
  });

  it('AppendEntries: append any new entries not already in the log (duplicates are harmless)', () => {
    const n = nodeWithLog(1, [1, 2, 3], [1], { term: 1 });
    const app = msg({ type: 'App', from: 2, to: 1, term: 1, index: 1, logTerm: 1, entries: entriesWithTerms([1, 1], 2) });
    n.step(app);
    n.step(app);
    // An older, shorter copy must not truncate what a newer message added.
    n.step(msg({ type: 'App', from: 2, to: 1, term: 1, index: 1, logTerm: 1, entries: entriesWithTerms([1], 2) }));
    expect(n.status().lastIndex).toBe(3);
    const acks = drain(n).messages.map((m) => m.index);
    expect(acks).toEqual([3, 3, 2]);
  });

  it('AppendEntries: if leaderCommit > commitIndex, set commitIndex = min(leaderCommit, index of last new entry)', () => {
    const n = nodeWithLog(1, [1, 2, 3], [], { term: 1 });
    n.step(msg({ type: 'App', from: 2, to: 1, term: 1, index: 0, logTerm: 0, entries: entriesWithTerms([1, 1]), commit: 5 }));
    expect(n.commitIndex).toBe(2);
    n.step(msg({ type: 'App', from: 2, to: 1, term: 1, index: 2, logTerm: 1, entries: entriesWithTerms([1, 1, 1], 3), commit: 4 }));
    expect(n.commitIndex).toBe(4);
  });
});

describe('Figure 2 — rules for servers', () => {
  it('All servers: if RPC request or response contains term T > currentTerm, set currentTerm = T and convert to follower', () => {
    const c = new TestCluster([1, 2, 3], { pre_vote: false, check_quorum: false });
    c.elect(1);
    const leader = c.node(1);
    leader.step(msg({ type: 'AppResp', from: 2, to: 1, term: 7 }));
    expect(leader.role).toBe('follower');
    expect(leader.term).toBe(7);
  });

  it('All servers: apply committed entries to the state machine in log order', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    for (const s of ['a', 'b', 'c']) c.node(1).propose(enc(s));
    c.stabilize();
    c.tickAll(2);
    c.stabilize();
    for (const id of [1, 2, 3]) {
      const idx = c.applied.get(id)!.map((e) => e.index);
      expect(idx).toEqual([1, 2, 3, 4]);
      expect(c.node(id).appliedIndex).toBe(4);
    }
  });

  it('Followers: convert to candidate when the election timeout elapses without hearing from a leader', () => {
    const n = nodeWithLog(1, [1, 2, 3], [], { term: 0 }, { election_timeout_ticks: 10 });
    for (let i = 0; i < 9; i++) n.tick();
    expect(n.role).toBe('follower');
    for (let i = 0; i < 10; i++) n.tick(); // randomized timeout is within [10, 20)
    expect(n.role).toBe('candidate');
    expect(n.term).toBe(1);
    const votes = drain(n).messages;
    expect(votes.map((m) => [m.type, m.to, m.term])).toEqual([
      ['Vote', 2, 1],
      ['Vote', 3, 1],
    ]);
  });

  it('Candidates: on conversion, increment currentTerm, vote for self, reset the timer and send RequestVote to all others', () => {
    const n = nodeWithLog(1, [1, 2, 3, 4, 5], [1, 1], { term: 4 });
    n.campaign();
    expect(n.role).toBe('candidate');
    expect(n.term).toBe(5);
    expect(n.status().vote).toBe(1);
    const rd = n.ready();
    expect(rd.hardState).toMatchObject({ term: 5, vote: 1 });
    expect(rd.mustSync).toBe(true);
    expect(rd.messages.map((m) => [m.type, m.to, m.term, m.index, m.logTerm])).toEqual([
      ['Vote', 2, 5, 2, 1],
      ['Vote', 3, 5, 2, 1],
      ['Vote', 4, 5, 2, 1],
      ['Vote', 5, 5, 2, 1],
    ]);
    n.advance();
    for (let i = 0; i < 9; i++) n.tick(); // the timer restarted at conversion
    expect(n.term).toBe(5);
  });

  it('Candidates: become leader on votes from a majority', () => {
    const n = nodeWithLog(1, [1, 2, 3, 4, 5], [], { term: 0 });
    n.campaign();
    n.step(msg({ type: 'VoteResp', from: 2, to: 1, term: 1 }));
    expect(n.role).toBe('candidate');
    n.step(msg({ type: 'VoteResp', from: 3, to: 1, term: 1 }));
    expect(n.role).toBe('leader');
  });

  it('Candidates: revert to follower on AppendEntries from the new leader of the same term', () => {
    const n = nodeWithLog(1, [1, 2, 3], [], { term: 0 });
    n.campaign();
    n.step(msg({ type: 'App', from: 2, to: 1, term: 1, index: 0, logTerm: 0 }));
    expect(n.role).toBe('follower');
    expect(n.leaderId).toBe(2);
  });

  it('Candidates: start a new election when the election times out', () => {
    const n = nodeWithLog(1, [1, 2, 3], [], { term: 0 });
    n.campaign();
    expect(n.term).toBe(1);
    for (let i = 0; i < 20; i++) n.tick();
    expect(n.role).toBe('candidate');
    expect(n.term).toBe(2);
  });

  it('Leaders: send heartbeats to each server during idle periods', () => {
    const c = new TestCluster([1, 2, 3], { heartbeat_interval_ticks: 1 });
    c.elect(1);
    c.node(1).tick();
    const hb = c.collect().filter((m) => m.type === 'Heartbeat');
    expect(hb.map((m) => m.to).sort()).toEqual([2, 3]);
  });

  it('Leaders: send entries from nextIndex; on success update nextIndex and matchIndex', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    const idx = c.node(1).propose(enc('x'));
    const sent = c.collect().filter((m) => m.type === 'App');
    expect(sent.map((m) => [m.to, m.index, m.entries.map((e) => e.index)])).toEqual([
      [2, 1, [2]],
      [3, 1, [2]],
    ]);
    c.stabilize();
    expect(c.node(1).commitIndex).toBe(idx);
  });

  it('Leaders: if AppendEntries fails because of log inconsistency, move nextIndex back and retry', () => {
    const leader = nodeWithLog(1, [1, 2, 3], [1, 1, 1], { term: 1 });
    leader.campaign();
    leader.step(msg({ type: 'VoteResp', from: 2, to: 1, term: 2 }));
    drain(leader);
    // Follower 3 has only one entry: it rejects prevIndex 3 and hints its last index + 1.
    leader.step(msg({ type: 'AppResp', from: 3, to: 1, term: 2, index: 3, reject: true, rejectHint: 2 }));
    const retry = drain(leader).messages.filter((m) => m.to === 3);
    expect(retry.map((m) => [m.type, m.index, m.logTerm, m.entries.length])).toEqual([['App', 1, 1, 3]]);
  });

  it('Leaders: commit N when a majority has matchIndex ≥ N and log[N].term == currentTerm', () => {
    const leader = nodeWithLog(1, [1, 2, 3, 4, 5], [], { term: 0 });
    leader.campaign();
    leader.step(msg({ type: 'VoteResp', from: 2, to: 1, term: 1 }));
    leader.step(msg({ type: 'VoteResp', from: 3, to: 1, term: 1 }));
    drain(leader); // persists the no-op at index 1
    leader.step(msg({ type: 'AppResp', from: 2, to: 1, term: 1, index: 1 }));
    expect(leader.commitIndex).toBe(0); // 2 of 5
    leader.step(msg({ type: 'AppResp', from: 3, to: 1, term: 1, index: 1 }));
    expect(leader.commitIndex).toBe(1); // 3 of 5
  });

  it('Persistence: a new term and vote are handed out to persist (mustSync) in the same Ready as the vote', () => {
    const n = nodeWithLog(1, [1, 2, 3], [], { term: 0 });
    n.step(msg({ type: 'Vote', from: 2, to: 1, term: 1, index: 0, logTerm: 0 }));
    const rd = n.ready();
    expect(rd.hardState).toMatchObject({ term: 1, vote: 2 });
    expect(rd.mustSync).toBe(true);
    expect(rd.messages.map((m) => m.type)).toEqual(['VoteResp']);
    n.advance();
  });
});
