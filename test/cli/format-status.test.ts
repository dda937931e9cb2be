import { describe, expect, it } from 'vitest';
import { formatStatus } from '../../src/cli/storage-commands.js';
import type { ReplicaStatus } from '../../src/storage/common/protocol.js';
import { defaultTopology } from '../../src/storage/common/topology.js';

/** `ecom status`'s lines for one partition whose leader found a follower's log cut back (docs/raft.md). */
describe('ecom status', () => {
  it('names a follower that lost entries it had acknowledged, and what to do', () => {
    const topology = defaultTopology();
    const replica = (id: number, role: string, extra: Partial<ReplicaStatus> = {}): ReplicaStatus => ({ id, partition: 0, role, term: 2, leader: 1, commitIndex: 40, appliedIndex: 40, lastIndex: 40, snapshotIndex: 0, ...extra });
    const text = formatStatus(topology, [
      replica(1, 'leader', { followers: [{ id: 2, match: 40, state: 'replicate' }, { id: 3, match: 35, state: 'probe', logEnd: 0 }] }),
      replica(2, 'follower'),
      replica(3, 'follower', { commitIndex: 0, appliedIndex: 0 }),
    ]);
    const lines = text.split('\n');
    expect(lines[0]).toBe('partition 0: leader 1, term 2');
    expect(lines.find((l) => l.includes('replica 3'))).toMatch(/LOST ITS LOG: holds up to 0 of the 35 it acknowledged; remove it and add it back empty/);
    expect(lines.find((l) => l.includes('replica 2'))).not.toContain('LOST');
  });

  it("shows each replica's longest stall, a follower's leader silence and the longest fsync of its log, where reported", () => {
    const topology = defaultTopology();
    const replica = (id: number, role: string, extra: Partial<ReplicaStatus> = {}): ReplicaStatus => ({ id, partition: 0, role, term: 2, leader: 1, commitIndex: 40, appliedIndex: 40, lastIndex: 40, snapshotIndex: 0, ...extra });
    const lines = formatStatus(topology, [
      replica(1, 'leader', { maxStall_ms: 12, maxLeaderSilence_ms: 0, maxFsync_ms: 431 }),
      replica(2, 'follower', { maxStall_ms: 7, maxLeaderSilence_ms: 35, maxFsync_ms: 2 }),
      replica(3, 'follower'),
    ]).split('\n');
    expect(lines.find((l) => l.includes('replica 1'))).toMatch(/ {2}stall ≤12 ms {2}fsync ≤431 ms$/);
    expect(lines.find((l) => l.includes('replica 2'))).toMatch(/ {2}stall ≤7 ms {2}leader silent ≤35 ms {2}fsync ≤2 ms$/);
    // An older build reports none of them.
    expect(lines.find((l) => l.includes('replica 3'))).not.toMatch(/stall|silent|fsync/);
  });
});
