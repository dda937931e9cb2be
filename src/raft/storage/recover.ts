// Rebuilds what the core needs at start-up from the three stores, tolerating a crash between
// "snapshot saved" and "log reset/compacted".
import type { Entry, HardState, Membership, Snapshot } from '../types.js';
import type { RaftInitialState } from '../core/raft.js';
import type { LogStore, SnapshotStore, StableStore } from './interfaces.js';

export function recoverInitialState(
  log: LogStore,
  stable: StableStore,
  snapshots: SnapshotStore,
  bootstrap: Membership,
): RaftInitialState {
  const snapshot: Snapshot | undefined = snapshots.latest();
  const snapIndex = snapshot?.meta.index ?? 0;
  let entries: Entry[] = [];
  const first = Math.max(log.firstIndex(), snapIndex + 1);
  const last = log.lastIndex();
  if (last >= first) {
    const logged = log.entries(Math.max(first - 1, log.firstIndex()), last);
    const atSnap = logged[0]?.index === snapIndex ? logged[0] : undefined;
    const contiguous = logged.length > 0 && (logged[0]!.index <= snapIndex + 1);
    // A log that disagrees with the snapshot at its index, or does not reach it, predates an
    // InstallSnapshot whose log reset did not make it to disk: the snapshot wins.
    if (contiguous && (atSnap === undefined || snapshot === undefined || atSnap.term === snapshot.meta.term)) {
      entries = logged.filter((e) => e.index > snapIndex);
    }
  }
  const hs: HardState = stable.hardState();
  const lastIndex = entries.length > 0 ? entries[entries.length - 1]!.index : snapIndex;
  const commit = Math.max(snapIndex, Math.min(hs.commit, lastIndex));
  return { hardState: { ...hs, commit }, snapshot, entries, bootstrap };
}
