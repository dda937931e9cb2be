import { createHash, type Hash } from 'node:crypto';
import { closeSync, fstatSync, fsyncSync, openSync, readFileSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  BACKUP_VERSION,
  BACKUP_VERSION_1,
  backupProblem,
  headerProblem,
  preambleProblem,
  type BackupFile,
  type BackupHeader,
  type PartPreamble,
} from '../common/backup-format.js';
import { fsyncDir } from '../../raft/log/file-log.js';
import { CopyReader, readLegacyJson, SnapshotDataError } from './snapshot-format.js';

/**
 * `ecom backup` files on disk (the layout is in src/storage/common/backup-format.ts): written as
 * the copies arrive, never held whole in memory, and read back the same way by `ecom restore`,
 * which checks every byte against its checksum before it writes anything.
 */

/** A partition as a restore needs it: where its state was taken, and its records. */
export interface BackupPart {
  readonly partition: number;
  readonly index: number;
  readonly term: number;
  /** How many records it holds (as the backup counted them). */
  readonly keys: number;
}

export interface BackupSource {
  readonly version: number;
  readonly created: string;
  readonly partitions: readonly BackupPart[];
  /** Partition `p`'s records in key order, a batch at a time; throws an Error naming the damage if they do not decode. */
  records(p: number): Iterable<ReadonlyArray<readonly [string, unknown]>>;
}

/** Read from a file per call as a backup is checked and restored. */
const READ_BYTES = 1 << 20;
/** A line of a version 2 file (its header, a partition's preamble or checksum) is short: no longer than this. */
const MAX_LINE_BYTES = 64 << 10;
/** A version 1 file holds at most 48 MiB of JSON per partition; reading one this large whole would be a damaged file. */
const MAX_VERSION_1_BYTES = 1 << 30;

/**
 * Writes a version 2 backup to a temporary file beside `path`, then puts it in place whole
 * (finish): a crash or a failure leaves the old file, if any, or the whole new one.
 */
export class BackupFileWriter {
  private readonly tmp: string;
  private readonly fd: number;
  private at = 0;
  private part: { readonly preamble: PartPreamble; written: number; readonly hash: Hash } | undefined;
  private parts = 0;

  constructor(
    private readonly path: string,
    private readonly header: BackupHeader,
  ) {
    this.tmp = `${path}.tmp-${process.pid}`;
    this.fd = this.attempt(() => openSync(this.tmp, 'w', 0o600));
    this.line(header);
  }

  startPart(preamble: PartPreamble): void {
    if (this.part !== undefined || preamble.partition !== this.parts) throw new Error(`partition ${preamble.partition} cannot start here (after ${this.parts} partitions)`);
    this.line(preamble);
    this.part = { preamble, written: 0, hash: createHash('sha256') };
  }

  write(bytes: Uint8Array): void {
    const part = this.part;
    if (part === undefined || part.written + bytes.length > part.preamble.bytes) throw new Error(`partition ${part?.preamble.partition ?? this.parts}'s copy came longer than it said (${part?.preamble.bytes ?? 0} bytes)`);
    part.hash.update(bytes);
    this.raw(bytes);
    part.written += bytes.length;
  }

  endPart(): void {
    const part = this.part;
    if (part === undefined || part.written !== part.preamble.bytes) throw new Error(`partition ${part?.preamble.partition ?? this.parts}'s copy ended at ${part?.written ?? 0} of its ${part?.preamble.bytes ?? 0} bytes`);
    this.line({ sha256: part.hash.digest('hex') });
    this.part = undefined;
    this.parts++;
  }

  /** Durable and in place: fsync, rename over `path`, fsync the folder. */
  finish(): void {
    if (this.part !== undefined || this.parts !== this.header.partitions) throw new Error(`the backup holds ${this.parts} of its ${this.header.partitions} partitions`);
    this.attempt(() => {
      fsyncSync(this.fd);
      closeSync(this.fd);
      renameSync(this.tmp, this.path);
    });
    fsyncDir(dirname(this.path));
  }

  /** Leaves no temporary file behind (the old backup at `path`, if any, stays). */
  abort(): void {
    try {
      closeSync(this.fd);
    } catch {
      // Already closed by finish(), which then failed: the file is removed below either way.
    }
    rmSync(this.tmp, { force: true });
  }

  private line(value: unknown): void {
    this.raw(Buffer.from(`${JSON.stringify(value)}\n`));
  }

  private raw(bytes: Uint8Array): void {
    this.attempt(() => {
      for (let done = 0; done < bytes.length; ) done += writeSync(this.fd, bytes, done, bytes.length - done, this.at + done);
    });
    this.at += bytes.length;
  }

  /** A failure of the disk names the file the user asked for, not the temporary one. */
  private attempt<T>(run: () => T): T {
    try {
      return run();
    } catch (err) {
      throw new Error(`cannot write the backup to ${this.path}: ${(err as Error).message}`);
    }
  }
}

/**
 * Opens a backup of either version and checks it whole before anything is restored from it: a
 * version 2 file is read through once and each partition's bytes compared with its checksum. A
 * file that is not a backup, damaged or edited, is refused with an Error saying what is wrong.
 */
export function openBackup(file: string): BackupSource {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw new Error(`cannot read the backup ${file}: ${(err as Error).message}`);
  }
  try {
    const size = fstatSync(fd).size;
    const first = Buffer.alloc(Math.min(size, MAX_LINE_BYTES));
    readAt(fd, first, 0);
    const newline = first.indexOf(0x0a);
    if (newline < 0) return version1(file, size);
    return version2(file, checkedParts(file, fd, size, first.subarray(0, newline)));
  } finally {
    closeSync(fd);
  }
}

function refuse(file: string, problem: string): Error {
  return new Error(`${file} cannot be restored: ${problem}`);
}

/** A version 1 file: one JSON object (no newline in it), each partition's state a JSON string. */
function version1(file: string, size: number): BackupSource {
  if (size > MAX_VERSION_1_BYTES) throw refuse(file, `it has no header line in its first ${MAX_LINE_BYTES} bytes, and at ${size} bytes it is no version ${BACKUP_VERSION_1} backup either`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file} is not a backup: it is not JSON (${(err as Error).message})`);
  }
  const problem = backupProblem(parsed);
  if (problem !== undefined) throw refuse(file, problem);
  const backup = parsed as BackupFile;
  const states = backup.partitions.map((p) => legacyEntries(p.partition, p.state));
  return {
    version: BACKUP_VERSION_1,
    created: backup.created,
    partitions: backup.partitions.map((p, i) => ({ partition: p.partition, index: p.index, term: p.term, keys: states[i]!.length })),
    records: (p) => [states[p] ?? []],
  };
}

/** A version 1 partition's state: format 1 snapshot data, read as a replica reads it. */
function legacyEntries(partition: number, text: string): Array<[string, unknown]> {
  try {
    return readLegacyJson(new TextEncoder().encode(text));
  } catch (err) {
    if (err instanceof SnapshotDataError) throw new Error(`partition ${partition}'s state in the backup cannot be read (${err.message}); the file is damaged`);
    throw err;
  }
}

/** A version 2 partition: its preamble and where its copy lies in the file. */
interface Region extends PartPreamble {
  readonly at: number;
}

/** Reads a version 2 file through once: every line checked, every copy against its checksum, nothing after the last. */
function checkedParts(file: string, fd: number, size: number, headerLine: Buffer): { header: BackupHeader; regions: Region[] } {
  const header = parseLine(file, headerLine, 'its first line');
  const problem = headerProblem(header);
  if (problem !== undefined) throw refuse(file, problem);
  const { partitions } = header as BackupHeader;
  const regions: Region[] = [];
  let at = headerLine.length + 1;
  const piece = Buffer.allocUnsafe(READ_BYTES);
  for (let p = 0; p < partitions; p++) {
    const preambleLine = lineAt(file, fd, size, at, `partition ${p}'s line`);
    const preamble = parseLine(file, preambleLine, `partition ${p}'s line`);
    const wrong = preambleProblem(preamble, p);
    if (wrong !== undefined) throw refuse(file, wrong);
    const part = preamble as PartPreamble;
    at += preambleLine.length + 1;
    if (at + part.bytes > size) throw refuse(file, `partition ${p}'s copy of ${part.bytes} bytes runs past the file's end: the file was cut short`);
    const hash = createHash('sha256');
    for (let done = 0; done < part.bytes; ) {
      const n = Math.min(READ_BYTES, part.bytes - done);
      readAt(fd, piece.subarray(0, n), at + done);
      hash.update(piece.subarray(0, n));
      done += n;
    }
    regions.push({ ...part, at });
    at += part.bytes;
    const sumLine = lineAt(file, fd, size, at, `partition ${p}'s checksum`);
    const sum = (parseLine(file, sumLine, `partition ${p}'s checksum`) as { sha256?: unknown } | null)?.sha256;
    if (sum !== hash.digest('hex')) throw refuse(file, `partition ${p}'s copy does not match its checksum: the file is damaged or was edited`);
    at += sumLine.length + 1;
  }
  if (at !== size) throw refuse(file, `it has ${size - at} bytes after its last partition`);
  return { header: header as BackupHeader, regions };
}

function version2(file: string, { header, regions }: { header: BackupHeader; regions: Region[] }): BackupSource {
  return {
    version: BACKUP_VERSION,
    created: header.created,
    partitions: regions.map(({ partition, index, term, keys }) => ({ partition, index, term, keys })),
    records: (p) => {
      const region = regions[p];
      if (region === undefined) throw new Error(`the backup has no partition ${p}`);
      return copyRecords(file, region);
    },
  };
}

/** A partition's record copy read from the file a piece at a time, decoded as it comes. */
function* copyRecords(file: string, region: Region): Generator<ReadonlyArray<readonly [string, unknown]>> {
  const fd = openSync(file, 'r');
  try {
    let batch: Array<readonly [string, unknown]> = [];
    const reader = new CopyReader((key, value) => batch.push([key, value]));
    const piece = Buffer.allocUnsafe(READ_BYTES);
    const damaged = (err: unknown): Error => (err instanceof SnapshotDataError ? new Error(`partition ${region.partition}'s copy in the backup does not decode (${err.message}); the file is damaged`) : (err as Error));
    for (let done = 0; done < region.bytes; ) {
      const n = Math.min(READ_BYTES, region.bytes - done);
      readAt(fd, piece.subarray(0, n), region.at + done);
      done += n;
      try {
        reader.push(piece.subarray(0, n));
      } catch (err) {
        throw damaged(err);
      }
      if (batch.length > 0) {
        yield batch;
        batch = [];
      }
    }
    let keys: number;
    try {
      keys = reader.end().keys;
    } catch (err) {
      throw damaged(err);
    }
    if (keys !== region.keys) throw new Error(`partition ${region.partition}'s copy in the backup holds ${keys} records where its line says ${region.keys}; the file is damaged`);
  } finally {
    closeSync(fd);
  }
}

function readAt(fd: number, into: Buffer, position: number): void {
  for (let done = 0; done < into.length; ) {
    const n = readSync(fd, into, done, into.length - done, position + done);
    if (n === 0) throw new Error(`the file ended at ${position + done} bytes`);
    done += n;
  }
}

/** The line starting at `at` (without its newline); a file that ends first, or a line too long, is damaged. */
function lineAt(file: string, fd: number, size: number, at: number, what: string): Buffer {
  const head = Buffer.alloc(Math.min(MAX_LINE_BYTES, size - at));
  if (head.length === 0) throw refuse(file, `it ends before ${what}: the file was cut short`);
  readAt(fd, head, at);
  const end = head.indexOf(0x0a);
  if (end < 0 && at + head.length === size) throw refuse(file, `it ends inside ${what}: the file was cut short or is damaged`);
  if (end < 0) throw refuse(file, `${what} does not end within ${MAX_LINE_BYTES} bytes: the file is damaged`);
  return head.subarray(0, end);
}

function parseLine(file: string, line: Buffer, what: string): unknown {
  try {
    return JSON.parse(line.toString('utf8'));
  } catch (err) {
    throw refuse(file, `${what} is not JSON (${(err as Error).message}): it is not an ecom backup, or it is damaged`);
  }
}
