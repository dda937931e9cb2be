import { describe, expect, it } from 'vitest';
import { DEFAULT_SIM_CONFIG, runSimulation } from '../../src/sim/simulation.js';
import { Invariants } from '../../src/sim/invariants.js';
import { nodeWithLog, msg, drain } from '../raft/harness.js';

describe('simulator', () => {
  it('is deterministic: the same seed replays the same run', () => {
    const a = runSimulation(1234, { ...DEFAULT_SIM_CONFIG, steps: 4000 }, true);
    const b = runSimulation(1234, { ...DEFAULT_SIM_CONFIG, steps: 4000 }, true);
    expect(b.trace).toEqual(a.trace);
    expect(b.history).toEqual(a.history);
    expect(b.counters).toEqual(a.counters);
  });

  it('exercises every fault and mechanism across a few seeds', () => {
    const totals: Record<string, number> = {};
    for (let seed = 1; seed <= 40; seed++) {
      const r = runSimulation(seed, { ...DEFAULT_SIM_CONFIG, steps: 8000 });
      expect(r.violation, `seed ${seed}`).toBeUndefined();
      for (const [k, v] of Object.entries(r.counters)) totals[k] = (totals[k] ?? 0) + v;
    }
    for (const k of ['msg-dropped', 'msg-delayed', 'msg-duplicated', 'crash', 'restart', 'Snap', 'TimeoutNow', 'PreVote', 'AppReject', 'transfer', 'conf-addLearner', 'conf-promote', 'conf-remove', 'conf-during-partition', 'crash-mid-change', 'removed-node-back', 'disk-full', 'disk-stall', 'disk-resume', 'snapshot-taken', 'capture-deferred', 'sync-deferred', 'msg-mid-sync', 'crash-mid-sync', 'apply-mid-sync', 'apply-behind-log', 'sync-slow', 'heartbeat-mid-sync']) {
      expect(totals[k] ?? 0, k).toBeGreaterThan(0);
    }
  });

  it('without faults every client operation completes', () => {
    const r = runSimulation(7, { ...DEFAULT_SIM_CONFIG, steps: 4000, faults: false });
    expect(r.violation).toBeUndefined();
    expect(r.counters['op-timeout'] ?? 0).toBe(0);
    expect(r.completedWrites + r.completedReads).toBeGreaterThan(50);
  });
});

describe('the simulator catches deliberately broken drivers', () => {
  const firstFailure = (bug: 'skip-fsync' | 'local-reads'): string | undefined => {
    for (let seed = 1; seed <= 300; seed++) {
      const r = runSimulation(seed, { ...DEFAULT_SIM_CONFIG, steps: 8000, inject_bug: bug });
      if (r.violation) return `seed ${seed}: ${r.violation}`;
    }
    return undefined;
  };

  it('sending before fsync loses acknowledged entries on crash', () => {
    expect(firstFailure('skip-fsync')).toBeDefined();
  });

  it('reads served from local state without ReadIndex are caught as stale by the checker', () => {
    expect(firstFailure('local-reads')).toMatch(/not linearizable/);
  });
});

describe('invariant checks catch violations', () => {
  it('two leaders in one term', () => {
    const inv = new Invariants();
    const a = nodeWithLog(1, [1, 2, 3], [], { term: 0 });
    const b = nodeWithLog(2, [1, 2, 3], [], { term: 0 });
    for (const n of [a, b]) {
      n.campaign();
      n.step(msg({ type: 'VoteResp', from: 3, to: n.id, term: 1 }));
      expect(n.role).toBe('leader');
    }
    inv.checkLeader(a);
    expect(() => inv.checkLeader(b)).toThrow(/two leaders in term 1/);
  });

  it('different entries applied at one index', () => {
    const inv = new Invariants();
    const e = (term: number, s: string) => ({ term, index: 1, kind: 'normal' as const, data: new TextEncoder().encode(s) });
    inv.checkApply(1, 1, e(1, 'a'));
    expect(() => inv.checkApply(2, 1, e(1, 'b'))).toThrow(/different entry/);
  });

  it('log matching broken', () => {
    const inv = new Invariants();
    const a = nodeWithLog(1, [1, 2, 3], [1, 1], { term: 2 });
    const b = nodeWithLog(2, [1, 2, 3], [2, 1], { term: 2 });
    drain(a);
    inv.checkNewEntries(a, [{ term: 1, index: 2, kind: 'normal', data: new Uint8Array() }]);
    expect(() => inv.checkNewEntries(b, [{ term: 1, index: 2, kind: 'normal', data: new Uint8Array() }])).toThrow(/log matching/);
  });
});
