import { createHash } from 'node:crypto';

/**
 * `ecom backup` files: every partition's state at one applied index of its own, as its leader's
 * snapshot holds it (the records, the locks and verdicts of transactions in flight, the
 * sessions), so `ecom restore` can seed a new cluster's replicas with it. A transaction caught
 * between its verdict and phase 2 is finished by recovery in the restored cluster, as after any
 * crash.
 *
 * Version 2 (written since 2026-12-07) streams: a partition's state is a record copy
 * (src/storage/replica/snapshot-format.ts), read from its leader in pieces and written as it
 * comes, so a backup's size is bounded by the disk, not by one message. The file is
 *
 *     {"format":"ecom-backup","version":2,"created":ISO time,"partitions":N}\n
 *     then for each partition, in order:
 *     {"partition":P,"index":I,"term":T,"voters":[...],"bytes":B,"keys":K}\n
 *     B bytes: the record copy
 *     {"sha256":hex of those B bytes}\n
 *
 * Version 1 (one JSON object, each partition's state a format 1 JSON string of at most 48 MiB)
 * is still restored.
 */
export const BACKUP_FORMAT = 'ecom-backup';
export const BACKUP_VERSION_1 = 1;
export const BACKUP_VERSION = 2;

/** One partition's part of a version 1 file. */
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
  readonly version: typeof BACKUP_VERSION_1;
  readonly created: string;
  readonly partitions: ReadonlyArray<PartitionBackup & { readonly sha256: string }>;
}

/** Each partition's state is checksummed in the file, so a damaged or edited backup is refused before it seeds a cluster. */
export function stateChecksum(state: string): string {
  return createHash('sha256').update(state, 'utf8').digest('hex');
}

/** What is wrong with a parsed version 1 backup file, or undefined. */
export function backupProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return 'it is not a JSON object';
  const file = value as Partial<BackupFile>;
  if (file.format !== BACKUP_FORMAT) return `it is not an ecom backup (format ${JSON.stringify(file.format)})`;
  if (file.version !== BACKUP_VERSION_1) return `it is version ${JSON.stringify(file.version)} of the format; this ecom reads versions ${BACKUP_VERSION_1} and ${BACKUP_VERSION}`;
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

/** A version 2 file's first line. */
export interface BackupHeader {
  readonly format: typeof BACKUP_FORMAT;
  readonly version: typeof BACKUP_VERSION;
  readonly created: string;
  readonly partitions: number;
}

/** The line before a partition's record copy in a version 2 file. */
export interface PartPreamble {
  readonly partition: number;
  readonly index: number;
  readonly term: number;
  readonly voters: readonly number[];
  /** The record copy's length in bytes. */
  readonly bytes: number;
  /** How many records it holds. */
  readonly keys: number;
}

/** No partition is a petabyte: a length past this is a damaged file, not a large shop. */
export const MAX_PART_BYTES = 2 ** 50;
/** A partition count past this is a damaged file (a topology has far fewer). */
const MAX_PARTITIONS = 4_096;

/** What is wrong with a version 2 file's parsed first line, or undefined. */
export function headerProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'its first line is not a JSON object';
  const header = value as Partial<BackupHeader>;
  if (header.format !== BACKUP_FORMAT) return `it is not an ecom backup (format ${JSON.stringify(header.format)})`;
  if (header.version !== BACKUP_VERSION) return `it is version ${JSON.stringify(header.version)} of the format; this ecom reads versions ${BACKUP_VERSION_1} and ${BACKUP_VERSION}`;
  if (typeof header.created !== 'string') return 'its first line names no creation time';
  if (!Number.isSafeInteger(header.partitions) || (header.partitions ?? 0) < 1 || (header.partitions ?? 0) > MAX_PARTITIONS) return `its first line names no partition count from 1 to ${MAX_PARTITIONS}`;
  return undefined;
}

/** What is wrong with the line before partition `expected`'s copy, or undefined. */
export function preambleProblem(value: unknown, expected: number): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return `partition ${expected}'s line is not a JSON object`;
  const part = value as Partial<PartPreamble>;
  if (part.partition !== expected) return `partition ${expected} is missing or out of order`;
  if (!Number.isSafeInteger(part.index) || (part.index ?? 0) < 1 || !Number.isSafeInteger(part.term) || (part.term ?? 0) < 1) return `partition ${expected} has no valid index and term`;
  if (!Array.isArray(part.voters) || !part.voters.every((v) => Number.isSafeInteger(v) && v > 0)) return `partition ${expected} has no valid voters`;
  if (!Number.isSafeInteger(part.bytes) || (part.bytes ?? 0) < 1 || (part.bytes ?? 0) > MAX_PART_BYTES) return `partition ${expected} has no valid length`;
  if (!Number.isSafeInteger(part.keys) || (part.keys ?? -1) < 0) return `partition ${expected} has no valid record count`;
  return undefined;
}

/** What a leader answers to 'backupOpen': a copy it made of its partition, to be read in pieces from that same replica. */
export interface BackupOpened {
  readonly partition: number;
  /** The applied index (and its term) the state is taken at; the copy may hold a little more, applied after it. */
  readonly index: number;
  readonly term: number;
  readonly voters: readonly number[];
  /** The replica holding the copy: every 'backupRead' goes to it, even once another replica leads. */
  readonly replica: number;
  /** The copy's number on that replica. */
  readonly copy: number;
  readonly bytes: number;
  readonly keys: number;
}

/** How much of a copy one 'backupRead' answers: a few ms of the replica's event loop to encode and send. */
export const BACKUP_PIECE_BYTES = 1 << 20;

/** What a replica answers to 'backupRead': the copy's bytes from the asked offset (base64; at most BACKUP_PIECE_BYTES). */
export interface BackupPiece {
  readonly data: string;
}
