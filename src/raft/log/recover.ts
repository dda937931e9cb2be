// Rebuilds what the core needs at start-up from the three stores, repairing the one state a crash
// can leave them in that the core cannot take as it is: a snapshot saved durably whose log reset
// (InstallSnapshot) or compaction did not reach the disk.
import type { Entry, HardState, Membership, Snapshot } from '../types.js';
import type { RaftInitialState } from '../core/raft.js';
import type { LogStore, SnapshotStore, StableStore, Syncable } from './interfaces.js';

export function recoverInitialState(
  log: LogStore & Syncable,
  stable: StableStore,
  snapshots: SnapshotStore,
  bootstrap: Membership,
): RaftInitialState {
  const snapshot: Snapshot | undefined = snapshots.latest();
  const snapIndex = snapshot?.meta.index ?? 0;
  if (snapshot !== undefined) {
    const continuesSnapshot =
      log.firstIndex() <= snapIndex + 1 &&
      log.lastIndex() >= snapIndex &&
      (log.firstIndex() > snapIndex || log.entries(snapIndex, snapIndex)[0]!.term === snapshot.meta.term);
    if (!continuesSnapshot) {
      // The log predates the snapshot (or disagrees with it): the snapshot wins.
      log.resetTo(snapIndex);
      log.sync();
    } else if (log.firstIndex() <= snapIndex) {
      log.compact(snapIndex);
    }
  }
  const entries: Entry[] = log.lastIndex() > snapIndex ? log.entries(snapIndex + 1, log.lastIndex()) : [];
  const hs: HardState = stable.hardState();
  const lastIndex = entries.length > 0 ? entries[entries.length - 1]!.index : snapIndex;
  const commit = Math.max(snapIndex, Math.min(hs.commit, lastIndex));
  return { hardState: { ...hs, commit }, snapshot, entries, bootstrap };
}
