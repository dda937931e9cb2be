import { crc32 } from 'node:zlib';
import { Packr, Unpackr } from 'msgpackr';

/**
 * A replica snapshot's data (what the Raft core keeps and sends), in one of four shapes:
 *
 * - a marker (format 2, "held by the store"): the snapshot a replica takes itself. Its state is
 *   the LMDB store, made durable at an applied index at or after the snapshot's, so taking one
 *   costs an fdatasync, not a copy of the partition (issue #18);
 * - a store file (format 2, "env"): what a leader sends a follower that needs the state. LMDB
 *   copies its own data file from one read transaction (mdb_env_copy, compacting), on the
 *   snapshot worker; the follower writes those bytes as its new store and opens it. Nothing is
 *   decoded or encoded record by record, so a copy moves at the speed of the disk and the socket
 *   (issue #18 item 5 asks 100 MB/s; the record-by-record copy below reached 7–12 MB/s). A fixed
 *   header gives the applied index the file holds and a CRC-32 of the file, checked on arrival;
 * - a record copy (format 2, "copy"): every key and value, each one MessagePack item. What a
 *   leader sends when its store file is over what one transfer carries (the file keeps the free
 *   space of its pages, so it is about twice the records' size), and what builds before the
 *   store file always sent. It is decoded and installed record by record, so it is slower. A
 *   backup (version 2, src/storage/common/backup-format.ts) carries one per partition;
 * - format 1, JSON `{format: 1, entries: [[k, v], ...]}`: what older builds took and what a
 *   backup of version 1 carries; still read, never written any more.
 *
 * A copy's header names the index its state was read at (`applied`), which may be after the
 * snapshot's own index: the store went on applying between the snapshot and the copy. The
 * receiver records that index as its applied one, so the entries in between, which the log
 * still hands it, are skipped rather than applied twice.
 */
export const SNAPSHOT_FORMAT = 2;
export const LEGACY_JSON_FORMAT = 1;

const MAGIC = Buffer.from('ESNP\u0002', 'latin1');
const KIND_MARKER = 0x4d; // 'M'
const KIND_COPY = 0x43; // 'C'
const KIND_ENV = 0x45; // 'E'
const KIND_STAGED = 0x53; // 'S'
/** A staged store's folder name: what stageName() gives, nothing that could leave the replica's folder. */
const STAGED_NAME = /^state-\d{16}$/;
/** A store file's header after the magic and kind: the applied index (u48) and the file's CRC-32 (u32). */
export const ENV_HEADER_BYTES = MAGIC.length + 1 + 6 + 4;

/** Bounds a copy's decoder: no key longer than this is a key of ours. */
const MAX_KEY_CHARS = 4_096;

/**
 * The folder, beside the replica's store, that a store file received at `applied` is written to
 * before the Raft core is given its snapshot (store-staging.ts).
 */
export function stageName(applied: number): string {
  return `state-${String(applied).padStart(16, '0')}`;
}

/**
 * The data of a snapshot whose store file was received and written to folder `name`: what the
 * core records and the snapshot file keeps in place of the file itself (it is already durable
 * there). It never leaves the replica: a peer's Snap carrying one is refused.
 */
export function stagedStore(name: string): Uint8Array {
  if (!STAGED_NAME.test(name)) throw new SnapshotDataError(`${JSON.stringify(name)} is not a staged store's folder`);
  return Buffer.concat([MAGIC, Buffer.from([KIND_STAGED]), Buffer.from(name, 'latin1')]);
}

/** The folder a staged snapshot names. */
export function stagedName(data: Uint8Array): string {
  const name = Buffer.from(data.buffer, data.byteOffset + MAGIC.length + 1, data.length - MAGIC.length - 1).toString('latin1');
  if (shapeOf(data) !== 'staged' || !STAGED_NAME.test(name)) throw new SnapshotDataError('snapshot data does not name a staged store');
  return name;
}

/** The data of a snapshot whose state is the store itself. */
export function storeMarker(): Uint8Array {
  return Buffer.concat([MAGIC, Buffer.from([KIND_MARKER])]);
}

export type SnapshotShape = 'marker' | 'staged' | 'env' | 'copy' | 'legacy-json';

export class SnapshotDataError extends Error {
  override readonly name = 'SnapshotDataError';
}

/** Which of the three shapes `data` is; throws on anything else. */
export function shapeOf(data: Uint8Array): SnapshotShape {
  if (data.length > 0 && data[0] === 0x7b) return 'legacy-json';
  if (data.length < MAGIC.length + 1 || !Buffer.from(data.buffer, data.byteOffset, MAGIC.length).equals(MAGIC)) {
    throw new SnapshotDataError(`snapshot data of ${data.length} bytes is in no format this build reads (format ${LEGACY_JSON_FORMAT} JSON or format ${SNAPSHOT_FORMAT})`);
  }
  const kind = data[MAGIC.length];
  if (kind === KIND_MARKER && data.length === MAGIC.length + 1) return 'marker';
  if (kind === KIND_COPY) return 'copy';
  if (kind === KIND_ENV) return 'env';
  if (kind === KIND_STAGED) return 'staged';
  throw new SnapshotDataError(`snapshot data of format ${SNAPSHOT_FORMAT} has an unknown kind ${kind}`);
}

/**
 * A store file's snapshot data less the file: the header naming the applied index the file
 * holds and the file's CRC-32. A leader sends this, then the file's bytes read from disk
 * (message-chunks.ts, FileTail), so the two arrive as one snapshot's data.
 */
export function envHeader(applied: number, crc: number): Uint8Array {
  if (!Number.isSafeInteger(applied) || applied < 0 || applied >= 2 ** 48) throw new SnapshotDataError(`a store file cannot name applied index ${applied}`);
  const header = Buffer.alloc(ENV_HEADER_BYTES);
  MAGIC.copy(header, 0);
  header[MAGIC.length] = KIND_ENV;
  header.writeUIntBE(applied, MAGIC.length + 1, 6);
  header.writeUInt32BE(crc >>> 0, MAGIC.length + 7);
  return header;
}

/** A store file's whole snapshot data in one buffer: its header, then the file. */
export function envCopy(applied: number, file: Uint8Array): Uint8Array {
  return Buffer.concat([envHeader(applied, crc32(file)), file]);
}

/** Checksummed per turn of the event loop by readEnvCopy: ~10 ms of CRC-32. */
const CRC_SLICE_BYTES = 16 << 20;

/**
 * Where the store file starts in snapshot data that is one (after its header), if `prefix`,
 * the data's first bytes, says it is; a receiver writes the file's bytes to disk as they come.
 */
export function storeFileOffset(prefix: Uint8Array): number | undefined {
  if (prefix.length < ENV_HEADER_BYTES) return undefined;
  try {
    return shapeOf(prefix) === 'env' ? ENV_HEADER_BYTES : undefined;
  } catch (err) {
    if (err instanceof SnapshotDataError) return undefined;
    throw err;
  }
}

/** A store file's header: the applied index it holds and its checksum; refused unless it is one. */
function envHeaderOf(data: Uint8Array): { applied: number; crc: number } {
  if (shapeOf(data) !== 'env' || data.length < ENV_HEADER_BYTES) throw new SnapshotDataError(`snapshot data of ${data.length} bytes is not a store file`);
  const view = Buffer.from(data.buffer, data.byteOffset, ENV_HEADER_BYTES);
  return { applied: view.readUIntBE(MAGIC.length + 1, 6), crc: view.readUInt32BE(MAGIC.length + 7) };
}

function checkCrc(crc: number, expected: number, bytes: number): void {
  if (crc !== expected) throw new SnapshotDataError(`a store file of ${bytes} bytes does not match its checksum: it was damaged on its way`);
}

/**
 * A store file's applied index and bytes (a view into `data`, not a copy). The data arrived on
 * a peer port: a short header or a checksum that does not match the bytes is refused with a
 * SnapshotDataError, so a file damaged on its way is never opened. The checksum is taken a
 * slice per turn of the event loop: a file of a few hundred MB took ~150 ms in one piece.
 */
export async function readEnvCopy(data: Uint8Array): Promise<{ applied: number; file: Uint8Array }> {
  const header = envHeaderOf(data);
  const file = data.subarray(ENV_HEADER_BYTES);
  let crc = 0;
  for (let at = 0; at < file.length; at += CRC_SLICE_BYTES) {
    if (at > 0) await new Promise((resolve) => setImmediate(resolve));
    crc = crc32(file.subarray(at, at + CRC_SLICE_BYTES), crc);
  }
  checkCrc(crc, header.crc, file.length);
  return { applied: header.applied, file };
}

/**
 * The applied index of a store file that arrived apart from its header, written to disk as it
 * came (spool-file.ts): `data` is the header alone, `received` the file's size and checksum.
 */
export function readEnvHeader(data: Uint8Array, received: { bytes: number; crc: number }): number {
  const header = envHeaderOf(data);
  if (data.length !== ENV_HEADER_BYTES) throw new SnapshotDataError(`a store file's header of ${data.length} bytes arrived with its file apart`);
  checkCrc(received.crc, header.crc, received.bytes);
  return header.applied;
}

/**
 * Writes a full copy item by item to `out`, which must take each piece's bytes before it
 * returns (pack() reuses its buffer between calls): the snapshot worker writes them to a file,
 * so no copy of a partition is ever held whole in memory.
 */
export class CopyWriter {
  private readonly packr = new Packr({ useRecords: false });
  private bytes = 0;
  keys = 0;

  constructor(
    readonly applied: number,
    private readonly out: (piece: Uint8Array) => void,
  ) {
    this.push(MAGIC);
    this.push(Buffer.from([KIND_COPY]));
    this.push(this.packr.pack({ applied }));
  }

  add(key: string, value: unknown): void {
    this.push(this.packr.pack(key));
    this.push(this.packr.pack(value));
    this.keys++;
  }

  get size(): number {
    return this.bytes;
  }

  private push(piece: Uint8Array): void {
    this.out(piece);
    this.bytes += piece.length;
  }
}

/**
 * Reads a full copy: its applied index, then each key and value through `put`, in order. The
 * data arrived on a peer port: anything but a header and whole key/value pairs with string keys
 * is refused with a SnapshotDataError (before or while `put` is called; the caller's
 * transaction then keeps nothing).
 */
export function readCopy(data: Uint8Array, put: (key: string, value: unknown) => void): { applied: number; keys: number } {
  const reader = new CopyReader(put);
  reader.push(data);
  return reader.end();
}

/** A piece of a copy held back for the next bytes is one key or one value: no record of ours is near this. */
const MAX_PENDING_BYTES = 64 << 20;

/**
 * Reads a full copy as its bytes come, in pieces of any size (a backup streams one from disk
 * that need not fit in memory): each key and value goes to `put` as soon as it is whole. Refuses
 * what readCopy refuses, with a SnapshotDataError, as soon as it shows.
 */
export class CopyReader {
  private readonly unpackr = new Unpackr({ useRecords: false });
  /** The copy's first bytes until its magic and kind have come. */
  private head: Buffer | undefined = Buffer.alloc(0);
  /** The start of an item whose end has not come yet. */
  private pending: Buffer = Buffer.alloc(0);
  private applied: number | undefined;
  private key: string | undefined;
  private keys = 0;

  constructor(private readonly put: (key: string, value: unknown) => void) {}

  push(piece: Uint8Array): void {
    let bytes = Buffer.from(piece.buffer, piece.byteOffset, piece.length);
    if (this.head !== undefined) {
      const head = Buffer.concat([this.head, bytes]);
      if (head.length < MAGIC.length + 1) return void (this.head = head);
      if (shapeOf(head.subarray(0, MAGIC.length + 1)) !== 'copy') throw new SnapshotDataError('snapshot data is not a full copy');
      this.head = undefined;
      bytes = head.subarray(MAGIC.length + 1);
    }
    const source = this.pending.length === 0 ? bytes : Buffer.concat([this.pending, bytes]);
    this.pending = Buffer.alloc(0);
    if (source.length === 0) return;
    try {
      this.unpackr.unpackMultiple(source, (item: unknown) => this.take(item));
    } catch (err) {
      if (err instanceof SnapshotDataError) throw err;
      const { incomplete, lastPosition } = err as { incomplete?: boolean; lastPosition?: number };
      if (incomplete !== true || lastPosition === undefined) throw new SnapshotDataError(`a copy does not decode: ${(err as Error).message}`);
      // Copied out: the caller may reuse its buffer for the next piece.
      this.pending = Buffer.from(source.subarray(lastPosition));
      if (this.pending.length > MAX_PENDING_BYTES) throw new SnapshotDataError(`a copy holds an item of over ${MAX_PENDING_BYTES} bytes`);
    }
  }

  /** The copy ended here: its applied index and how many keys it held, or a SnapshotDataError if it was cut short. */
  end(): { applied: number; keys: number } {
    if (this.head !== undefined) throw new SnapshotDataError('snapshot data is not a full copy');
    if (this.pending.length > 0) throw new SnapshotDataError(`a copy ends inside an item (${this.pending.length} bytes of it came)`);
    if (this.applied === undefined) throw new SnapshotDataError('a copy has no header');
    if (this.key !== undefined) throw new SnapshotDataError(`a copy ends after key ${JSON.stringify(this.key)}, without its value`);
    return { applied: this.applied, keys: this.keys };
  }

  private take(item: unknown): void {
    if (this.applied === undefined) {
      const applied = (item as { applied?: unknown } | null)?.applied;
      if (typeof applied !== 'number' || !Number.isSafeInteger(applied) || applied < 0) throw new SnapshotDataError('a copy\'s header names no applied index');
      this.applied = applied;
    } else if (this.key === undefined) {
      if (typeof item !== 'string' || item.length === 0 || item.length > MAX_KEY_CHARS) throw new SnapshotDataError('a copy holds a key that is not a string of 1 to 4096 characters');
      this.key = item;
    } else {
      if (item === undefined) throw new SnapshotDataError(`a copy holds no value for key ${JSON.stringify(this.key)}`);
      this.put(this.key, item);
      this.key = undefined;
      this.keys++;
    }
  }
}

/** Reads format 1 JSON (`{format: 1, entries}`) as written by older builds and carried by version 1 backups. */
export function readLegacyJson(data: Uint8Array): Array<[string, unknown]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.length).toString('utf8'));
  } catch (err) {
    throw new SnapshotDataError(`format ${LEGACY_JSON_FORMAT} snapshot data is not JSON: ${(err as Error).message}`);
  }
  const { format, entries } = (parsed ?? {}) as { format?: unknown; entries?: unknown };
  if (format !== LEGACY_JSON_FORMAT || !Array.isArray(entries)) throw new SnapshotDataError(`JSON snapshot data of format ${JSON.stringify(format)}; this build reads format ${LEGACY_JSON_FORMAT} JSON`);
  if (!entries.every((e) => Array.isArray(e) && e.length === 2 && typeof e[0] === 'string')) throw new SnapshotDataError('JSON snapshot data holds an entry that is not [key, value]');
  return entries as Array<[string, unknown]>;
}

/**
 * To the snapshot worker: a copy for a follower (the store file, or a record copy when the file
 * is over `maxFileBytes`), or a record copy for a backup (`ecom backup`), which is read back in
 * pieces and needs no LMDB to restore.
 */
export type SnapshotRequest = { readonly kind: 'copy'; readonly maxFileBytes: number } | { readonly kind: 'records' };

/**
 * From the snapshot worker: the state at `applied`, encoded. A copy stays on disk: `data` is
 * then its header (envHeader) for a store file, or empty for a record copy (the whole copy is
 * the file), and `file` where its bytes are, which the receiver of the reply opens and unlinks.
 */
export interface SnapshotReply {
  readonly applied: number;
  readonly data: Uint8Array;
  readonly file?: { readonly path: string; readonly bytes: number };
  readonly keys: number;
}
