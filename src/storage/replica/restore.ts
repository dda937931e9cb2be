import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_FILE_LOG_OPTIONS, FileLog, fsyncDir, replaceFileDurably } from '../../raft/log/file-log.js';
import { FileSnapshotStore } from '../../raft/log/file-snapshot.js';
import { replicasOf, type Topology } from '../common/topology.js';
import { ADDRESS_KEY_PREFIX } from '../common/members.js';
import type { BackupSource } from './backup-file.js';
import { replicaDir, restoreMarker } from './layout.js';
import { LmdbStateStore } from './lmdb-store.js';
import { storeMarker } from './snapshot-format.js';
import { markClean } from './state-recovery.js';
import { FIRST_STORE } from './store-location.js';

/**
 * Seeds the replicas of a new cluster from a backup: each replica's folder gets its partition's
 * state store, written here record by record at the backup's index and flushed, a snapshot that
 * names that store, and a log that starts after it: what a replica has after taking a snapshot
 * of its own. At start each replica resumes from its store, with nothing to load, and the
 * partition elects a leader in a later term; nothing else needs to know it was restored.
 */
export interface RestoredReplica {
  readonly id: number;
  readonly partition: number;
  readonly index: number;
  readonly dir: string;
}

/** How often a long restore says how far it is. */
const PROGRESS_EVERY_MS = 2_000;

export async function restoreBackup(backup: BackupSource, topology: Topology, dataDir: string, say: (line: string) => void = () => undefined): Promise<RestoredReplica[]> {
  if (backup.partitions.length !== topology.partitions) {
    throw new Error(
      `the backup holds ${backup.partitions.length} partitions and the new cluster's topology has ${topology.partitions}; IDs are placed by partition count, so restore into a topology with ${backup.partitions.length}`,
    );
  }
  // Refuse before writing anything, so a refused restore leaves the folder as it was.
  for (const replica of topology.replicas) {
    const dir = replicaDir(dataDir, replica.id);
    if (existsSync(dir) && readdirSync(dir).length > 0) throw new Error(`${dir} already holds a replica's data; restore into an empty --data folder (nothing was written)`);
  }
  // Until every replica is written, no replica may start from the folder (layout.ts): a restore
  // killed half way would leave some partitions restored and others empty.
  const marker = restoreMarker(dataDir);
  const madeDataDir = !existsSync(dataDir);
  mkdirSync(dataDir, { recursive: true });
  replaceFileDurably(marker, `a restore into it started at ${new Date().toISOString()} and did not finish (it was interrupted, or failed); delete the replica folders in it and run ecom restore again\n`);
  const written: string[] = [];
  const restored: RestoredReplica[] = [];
  try {
    for (const part of backup.partitions) {
      const replicas = replicasOf(topology, part.partition);
      const voters = replicas.map((r) => r.id);
      const dirs = replicas.map((r) => replicaDir(dataDir, r.id));
      written.push(...dirs);
      const [first, ...others] = dirs;
      if (first === undefined) throw new Error(`the topology has no replica of partition ${part.partition}`);
      const records = await writeStore(join(first, FIRST_STORE), backup, part.partition, part.index, say);
      // The same bytes for every replica of the partition: the store is written once and copied.
      for (const dir of others) copyStore(join(first, FIRST_STORE), join(dir, FIRST_STORE));
      for (const dir of dirs) {
        markClean(dir, join(dir, FIRST_STORE));
        new FileSnapshotStore(join(dir, 'snapshots')).save({ meta: { index: part.index, term: part.term, membership: { voters, learners: [] } }, data: storeMarker() });
        const log = FileLog.open(join(dir, 'raft'), DEFAULT_FILE_LOG_OPTIONS);
        try {
          log.resetTo(part.index);
          log.setHardState({ term: part.term, vote: 0, commit: part.index });
          log.sync();
        } finally {
          log.close();
        }
      }
      say(`partition ${part.partition}: ${records.toLocaleString('en-US')} records at index ${part.index}, in ${replicas.length} replicas`);
      restored.push(...replicas.map((r, i) => ({ id: r.id, partition: part.partition, index: part.index, dir: dirs[i]! })));
    }
  } catch (err) {
    // Nothing half restored is left to be started: the folders were empty or absent before.
    for (const dir of written) rmSync(dir, { recursive: true, force: true });
    rmSync(marker, { force: true });
    if (madeDataDir) rmSync(dataDir, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}; nothing was left in ${dataDir}`);
  }
  rmSync(marker);
  fsyncDir(dataDir);
  return restored;
}

/**
 * Writes partition `p`'s records into a new store at `path`, holding applied index `index`, a
 * batch per transaction. The addresses of members added online are left out: the new cluster's
 * members and addresses are its topology's, and an old address must not override one of them.
 */
async function writeStore(path: string, backup: BackupSource, p: number, index: number, say: (line: string) => void): Promise<number> {
  mkdirSync(path, { recursive: true });
  const store = new LmdbStateStore(path);
  const total = backup.partitions[p]?.keys ?? 0;
  let records = 0;
  let told = performance.now();
  try {
    store.applyBatch(index, () => undefined);
    for (const batch of backup.records(p)) {
      store.applyBatch(index, () => {
        for (const [key, value] of batch) if (!key.startsWith(ADDRESS_KEY_PREFIX)) store.put(key, value);
      });
      records += batch.length;
      if (performance.now() - told >= PROGRESS_EVERY_MS) {
        told = performance.now();
        say(`partition ${p}: ${records.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} records written`);
      }
    }
  } finally {
    await store.close();
  }
  return records;
}

function copyStore(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const file of ['data.mdb', 'lock.mdb']) copyFileSync(join(from, file), join(to, file));
}
