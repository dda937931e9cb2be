import { rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { raftTargets, type RaftFaultKind } from '../../src/chaos/raft-nemesis.js';
import { planSchedule } from '../../src/chaos/schedule.js';
import { runRaftChaos } from '../../src/chaos/raft-run.js';

/**
 * The checkers must catch real bugs: each test plants one in the replicas or portals (ECOM_TEST_FAULTS, a
 * test-only switch) and runs a schedule chosen to expose it; the run must report a violation.
 * The seeds are fixed so the schedule is known to contain the exposing fault (checked first);
 * replay any of them with the command printed in the run's summary.
 */
const HISTORY_CHECKERS = ['linearizability', 'acknowledged-writes', 'conservation', 'references', 'no-negative-stock'];

async function expectCaught(name: string, seed: number, duration_s: number, faults: RaftFaultKind[], plantedBugs: string[], checkers = HISTORY_CHECKERS): Promise<void> {
  console.log(`${name}: seed ${seed} (replay: npm run chaos -- --seed ${seed} --duration ${duration_s} --faults ${faults.join(',')} --planted-bugs ${plantedBugs.join(',')})`);
  const result = await runRaftChaos({ seed, duration_s, faults, plantedBugs, progress: (line) => console.log(line) });
  console.log(`${name}: violations: ${result.violations.map((v) => `${v.checker}: ${v.message}`).join('; ')}`);
  // A checker of the history or the final state must see it, not only a crashed process.
  expect(result.violations.some((v) => checkers.includes(v.checker)), `seed ${seed} in ${result.folder}`).toBe(true);
  rmSync(result.folder, { recursive: true, force: true });
}

describe('planted bugs make a chaos run fail', () => {
  it('skip-commit-check: a leader cut off from its partition acknowledges writes the majority never had', { timeout: 200_000 }, async () => {
    const seed = 6;
    const faults: RaftFaultKind[] = ['partition-symmetric'];
    // The first fault must isolate a leader (an even pick is the leader) before anything else happens.
    const schedule = planSchedule({ seed, duration_ms: 20_000, kinds: faults, partitions: 2, targets: (kind) => raftTargets(kind, { replicasPerPartition: 3, portals: 2 }) });
    expect(schedule[0]!.pick % 2).toBe(0);
    await expectCaught('skip-commit-check', seed, 20, faults, ['skip-commit-check']);
  });

  it('ack-before-fsync: killing every replica at once loses acknowledged writes that were never synced', { timeout: 200_000 }, async () => {
    const seed = 11;
    // lose-unsynced-on-crash makes every killed replica restart from its log cut back to its last fsync.
    await expectCaught('ack-before-fsync', seed, 30, ['kill-all'], ['ack-before-fsync', 'lose-unsynced-on-crash']);
  });

  describe('cache-ignores-bound: portal caches serve entries past their bound and across a lost change feed', () => {
    // The first fault kills the broker for 1.9 s, the second stalls portal 1's feed for 2.3 s:
    // announcements are lost or late for seconds, far beyond the 400 ms bound.
    const seed = 21;
    const faults: RaftFaultKind[] = ['broker-restart', 'cache-feed-cut'];

    it('the schedule starts with a long broker outage', () => {
      const schedule = planSchedule({ seed, duration_ms: 20_000, kinds: faults, partitions: 2, targets: (kind) => raftTargets(kind, { replicasPerPartition: 3, portals: 2 }) });
      expect(schedule[0]!.kind).toBe('broker-restart');
      expect(schedule[0]!.hold_ms).toBeGreaterThan(1_500);
    });

    it('the cache checker reports stale reads', { timeout: 200_000 }, async () => {
      await expectCaught('cache-ignores-bound', seed, 20, faults, ['cache-ignores-bound'], ['cache-staleness']);
    });

    // The same schedule against the correct build: the violation above is the bug's, not the harness's.
    it('the correct build passes the same seed', { timeout: 200_000 }, async () => {
      const result = await runRaftChaos({ seed, duration_s: 20, faults, progress: (line) => console.log(line) });
      expect(result.violations, `seed ${seed} in ${result.folder}`).toEqual([]);
      expect(result.checked.cache).toBeGreaterThan(50);
      rmSync(result.folder, { recursive: true, force: true });
    });
  });
});
