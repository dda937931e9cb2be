import { createHash } from 'node:crypto';

/**
 * `ecom backup` files: every partition's state at one applied index of its own, as its leader's
 * snapshot holds it (the records, the locks and verdicts of transactions in flight, the
 * sessions), so `ecom restore` can seed a new cluster's replicas with it. A transaction caught
 * between its verdict and phase 2 is finished by recovery in the restored cluster, as after any
 * crash.
 */
export const BACKUP_FORMAT = 'ecom-backup';
export const BACKUP_VERSION = 1;

/** One partition's part: what a leader answers to a 'backup' request. */
export interface PartitionBackup {
  readonly partition: number;
  /** The applied index (and its term) the state is taken at. */
  readonly index: number;
  readonly term: number;
  /** The partition's voters when it was taken, for the record; a restore takes the new topology's. */
  readonly voters: readonly number[];
  /** The snapshot's data: a replica snapshot (src/storage/replica/snapshot-format.ts) as JSON text. */
  readonly state: string;
}

export interface BackupFile {
  readonly format: typeof BACKUP_FORMAT;
  readonly version: typeof BACKUP_VERSION;
  readonly created: string;
  readonly partitions: ReadonlyArray<PartitionBackup & { readonly sha256: string }>;
}

/** Each partition's state is checksummed in the file, so a damaged or edited backup is refused before it seeds a cluster. */
export function stateChecksum(state: string): string {
  return createHash('sha256').update(state, 'utf8').digest('hex');
}

/** A backup answer travels in one frame (64 MiB): states larger than this are refused, saying so. */
export const MAX_BACKUP_BYTES = 48 << 20;

/** What is wrong with a parsed backup file, or undefined. */
export function backupProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return 'it is not a JSON object';
  const file = value as Partial<BackupFile>;
  if (file.format !== BACKUP_FORMAT) return `it is not an ecom backup (format ${JSON.stringify(file.format)})`;
  if (file.version !== BACKUP_VERSION) return `it is version ${JSON.stringify(file.version)} of the format; this ecom reads version ${BACKUP_VERSION}`;
  if (!Array.isArray(file.partitions) || file.partitions.length === 0) return 'it holds no partitions';
  for (const [i, p] of (file.partitions as unknown[]).entries()) {
    if (typeof p !== 'object' || p === null) return `partition ${i} is not an object`;
    const part = p as Partial<PartitionBackup>;
    if (part.partition !== i) return `partition ${i} is missing or out of order`;
    if (!Number.isSafeInteger(part.index) || (part.index ?? 0) < 1 || !Number.isSafeInteger(part.term) || (part.term ?? 0) < 1) return `partition ${i} has no valid index and term`;
    if (typeof part.state !== 'string') return `partition ${i} has no state`;
    if ((p as { sha256?: unknown }).sha256 !== stateChecksum(part.state)) return `partition ${i}'s state does not match its checksum: the file is damaged or was edited`;
  }
  return undefined;
}
