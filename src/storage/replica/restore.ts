import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_FILE_LOG_OPTIONS, FileLog } from '../../raft/log/file-log.js';
import { FileSnapshotStore } from '../../raft/log/file-snapshot.js';
import type { BackupFile, PartitionBackup } from '../common/backup-format.js';
import { replicasOf, type Topology } from '../common/topology.js';
import { ADDRESS_KEY_PREFIX } from '../common/members.js';
import { replicaDir } from './layout.js';
import { LEGACY_JSON_FORMAT } from './snapshot-format.js';

/**
 * Seeds the replicas of a new cluster from a backup: each replica's folder gets its partition's
 * snapshot and a log that starts after it, exactly what a replica has after receiving a snapshot
 * from its leader. At start each replica loads the snapshot into its state store and the
 * partition elects a leader in a later term; nothing else needs to know it was restored.
 */
export interface RestoredReplica {
  readonly id: number;
  readonly partition: number;
  readonly index: number;
  readonly dir: string;
}

export function restoreBackup(backup: BackupFile, topology: Topology, dataDir: string): RestoredReplica[] {
  if (backup.partitions.length !== topology.partitions) {
    throw new Error(
      `the backup holds ${backup.partitions.length} partitions and the new cluster's topology has ${topology.partitions}; IDs are placed by partition count, so restore into a topology with ${backup.partitions.length}`,
    );
  }
  const states = backup.partitions.map(withoutAddresses);
  // Refuse before writing anything, so a refused restore leaves the folder as it was.
  for (const replica of topology.replicas) {
    const dir = replicaDir(dataDir, replica.id);
    if (existsSync(dir) && readdirSync(dir).length > 0) throw new Error(`${dir} already holds a replica's data; restore into an empty --data folder (nothing was written)`);
  }
  return topology.replicas.map((replica) => {
    const part = backup.partitions[replica.partition];
    const state = states[replica.partition];
    if (part === undefined || state === undefined) throw new Error(`the backup has no partition ${replica.partition}`);
    const voters = replicasOf(topology, replica.partition).map((r) => r.id);
    const dir = replicaDir(dataDir, replica.id);
    new FileSnapshotStore(join(dir, 'snapshots')).save({
      meta: { index: part.index, term: part.term, membership: { voters, learners: [] } },
      data: new TextEncoder().encode(state),
    });
    const log = FileLog.open(join(dir, 'raft'), DEFAULT_FILE_LOG_OPTIONS);
    try {
      log.resetTo(part.index);
      log.setHardState({ term: part.term, vote: 0, commit: part.index });
      log.sync();
    } finally {
      log.close();
    }
    return { id: replica.id, partition: replica.partition, index: part.index, dir };
  });
}

/**
 * The partition's state without the addresses of members added online: the new cluster's members
 * and addresses are its topology's, and an old address must not override one of them.
 */
function withoutAddresses(part: PartitionBackup): string {
  const state = checkState(part);
  return JSON.stringify({ ...state, entries: state.entries.filter(([key]) => !key.startsWith(ADDRESS_KEY_PREFIX)) });
}

function checkState(part: PartitionBackup): { format: number; entries: Array<[string, unknown]> } {
  let state: unknown;
  try {
    state = JSON.parse(part.state);
  } catch (err) {
    throw new Error(`partition ${part.partition}'s state in the backup is not JSON (${(err as Error).message}); the file is damaged`);
  }
  const format = (state as { format?: unknown } | null)?.format;
  if (format !== LEGACY_JSON_FORMAT || !Array.isArray((state as { entries?: unknown }).entries)) {
    throw new Error(`partition ${part.partition}'s state is in snapshot format ${JSON.stringify(format)}; this ecom reads format ${LEGACY_JSON_FORMAT}`);
  }
  const entries = (state as { entries: unknown[] }).entries;
  if (!entries.every((e) => Array.isArray(e) && typeof e[0] === 'string')) throw new Error(`partition ${part.partition}'s state holds an entry that is not [key, value]; the file is damaged`);
  return state as { format: number; entries: Array<[string, unknown]> };
}
