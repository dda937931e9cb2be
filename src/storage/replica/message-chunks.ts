import { createHash } from 'node:crypto';
import { statfsSync } from 'node:fs';
import { join } from 'node:path';
import { assert } from '../../util/assert.js';
import { SpoolFile, type ReceivedFile } from './spool-file.js';

/**
 * Raft messages too big for one frame (a snapshot of a large partition) travel as a run of
 * chunk frames on the bulk connection and are put back together by the receiver (issue #16
 * item 3). A chunk frame starts with a marker byte no codec version uses, then the sender's id,
 * the transfer's key (the first bytes of the message's SHA-256), the chunk's offset and the
 * whole message's size. The receiver tells the sender now and then how far it got (an ack
 * frame), and keeps what it has when the connection breaks, so the sender resumes a transfer of
 * the same message where it was cut instead of from the start.
 * Written by hand: it is a header and a copy, on the replicas' own wire format.
 */
export const CHUNK_MARKER = 0xc5;
export const CHUNK_ACK_MARKER = 0xc6;
const KEY_BYTES = 8;
/** Where each field of a chunk frame's header starts. */
export const CHUNK_FIELDS = { from: 1, key: 5, offset: 5 + KEY_BYTES, total: 11 + KEY_BYTES } as const;
const HEADER_BYTES = CHUNK_FIELDS.total + 6;
const ACK_BYTES = 1 + 4 + KEY_BYTES + 6;
/** Messages larger than this are sent in chunks of this size. */
export const CHUNK_BYTES = 1 << 20;
/** A receiver acknowledges a transfer's progress every this many chunks. */
export const ACK_EVERY_CHUNKS = 8;
/**
 * The largest message a transfer held in memory may carry: what that costs the receiver (and a
 * sender that holds the message whole) is bounded by this.
 */
export const MAX_CHUNKED_MESSAGE_BYTES = 512 << 20;
/**
 * The largest transfer of all: a message whose bulk the sender reads from a file as it goes and
 * the receiver writes to a file as it comes (a store file), bounded by disk, not memory. The
 * chunk header's 6-byte sizes hold far more; this keeps a corrupt size from meaning anything.
 */
export const MAX_TRANSFER_BYTES = 2 ** 40;
/** Bytes a receiver leaves free on its disk beyond a transfer it writes there. */
const DISK_HEADROOM_BYTES = 64 << 20;
/** A transfer written to disk whose writes fall this far behind stops reading its connection until they catch up. */
const MAX_QUEUED_WRITE_BYTES = 16 << 20;
/** Transfers a receiver keeps half-done at once (a leader and the one before it, say); the oldest goes first. */
const MAX_PARTIAL_TRANSFERS = 2;

export class ChunkError extends Error {
  override readonly name = 'ChunkError';
}

/** Who sends a transfer and which message it is. */
export interface Transfer {
  readonly from: number;
  readonly key: Buffer;
}

export function transferKey(message: Uint8Array): Buffer {
  return createHash('sha256').update(message).digest().subarray(0, KEY_BYTES);
}

/** Hashed per turn of the event loop by transferKeyInSlices: ~10 ms of SHA-256. */
const KEY_SLICE_BYTES = 16 << 20;

/**
 * transferKey, hashed a slice per turn of the event loop: a snapshot of a few hundred MB took
 * a leader's event loop ~170 ms in one piece, heartbeats waiting behind it.
 */
export async function transferKeyInSlices(message: Uint8Array): Promise<Buffer> {
  const hash = createHash('sha256');
  for (let at = 0; at < message.length; at += KEY_SLICE_BYTES) {
    if (at > 0) await new Promise((resolve) => setImmediate(resolve));
    hash.update(message.subarray(at, Math.min(message.length, at + KEY_SLICE_BYTES)));
  }
  return hash.digest().subarray(0, KEY_BYTES);
}

export function isChunk(frame: Uint8Array): boolean {
  return frame.length > 0 && frame[0] === CHUNK_MARKER;
}

export function isChunkAck(frame: Uint8Array): boolean {
  return frame.length > 0 && frame[0] === CHUNK_ACK_MARKER;
}

/**
 * Bytes of a message that follow its encoded head in a file: a store file read from disk as it
 * is sent, so a leader never holds a copy of its partition in memory (allocating and filling
 * hundreds of MB took its event loop about a second on this VM, and cost it its leadership).
 */
export interface FileTail {
  readonly bytes: number;
  /** Fills `into` from `position` of the file; fewer bytes than asked is an error. */
  read(into: Uint8Array, position: number): Promise<void>;
}

/** A message to send in chunks: whole in memory, or a head in memory and a tail read from a file. */
export interface ChunkSource {
  readonly length: number;
  /** Writes bytes [offset, offset + into.length) of the message into `into`. */
  fill(into: Uint8Array, offset: number): Promise<void> | void;
}

export function inMemory(message: Uint8Array): ChunkSource {
  return { length: message.length, fill: (into, offset) => into.set(message.subarray(offset, offset + into.length)) };
}

export function headAndTail(head: Uint8Array, tail: FileTail): ChunkSource {
  return {
    length: head.length + tail.bytes,
    fill: async (into, offset) => {
      const fromHead = Math.max(0, Math.min(into.length, head.length - offset));
      if (fromHead > 0) into.set(head.subarray(offset, offset + fromHead));
      if (fromHead < into.length) await tail.read(into.subarray(fromHead), offset + fromHead - head.length);
    },
  };
}

function checkTransfer(total: number, start: number, max: number): void {
  if (total > max) throw new ChunkError(`a message of ${total} bytes is over the ${max} a transfer carries`);
  if (start % CHUNK_BYTES !== 0 || start < 0 || (start > 0 && start >= total)) throw new ChunkError(`a transfer cannot resume at ${start} of ${total}`);
}

/** A chunk frame's payload with its header written; the caller fills `part`. */
function chunkFrame(transfer: Transfer, offset: number, total: number): { payload: Buffer; part: Buffer } {
  const length = Math.min(CHUNK_BYTES, total - offset);
  const payload = Buffer.allocUnsafe(HEADER_BYTES + length);
  payload[0] = CHUNK_MARKER;
  payload.writeUInt32BE(transfer.from >>> 0, CHUNK_FIELDS.from);
  transfer.key.copy(payload, CHUNK_FIELDS.key, 0, KEY_BYTES);
  payload.writeUIntBE(offset, CHUNK_FIELDS.offset, 6);
  payload.writeUIntBE(total, CHUNK_FIELDS.total, 6);
  return { payload, part: payload.subarray(HEADER_BYTES) };
}

/** The chunk frames' payloads of one message, in order, from `start` (a multiple of CHUNK_BYTES). */
export function* chunksOf(message: Uint8Array, transfer: Transfer, start = 0): Generator<Buffer> {
  checkTransfer(message.length, start, MAX_CHUNKED_MESSAGE_BYTES);
  for (let offset = start; offset < message.length; offset += CHUNK_BYTES) {
    const { payload, part } = chunkFrame(transfer, offset, message.length);
    part.set(message.subarray(offset, offset + part.length));
    yield payload;
  }
}

/** chunksOf for a message that may be read from a file as it goes. */
export async function* chunksOfSource(source: ChunkSource, transfer: Transfer, start = 0): AsyncGenerator<Buffer> {
  checkTransfer(source.length, start, MAX_TRANSFER_BYTES);
  for (let offset = start; offset < source.length; offset += CHUNK_BYTES) {
    const { payload, part } = chunkFrame(transfer, offset, source.length);
    await source.fill(part, offset);
    yield payload;
  }
}

/** The receiver's word to the sender: it holds the first `received` bytes of transfer `key`. */
export interface ChunkAck {
  readonly from: number;
  readonly key: Buffer;
  readonly received: number;
}

export function encodeChunkAck(ack: ChunkAck): Buffer {
  const frame = Buffer.allocUnsafe(ACK_BYTES);
  frame[0] = CHUNK_ACK_MARKER;
  frame.writeUInt32BE(ack.from >>> 0, 1);
  ack.key.copy(frame, 5, 0, KEY_BYTES);
  frame.writeUIntBE(ack.received, 5 + KEY_BYTES, 6);
  return frame;
}

export function decodeChunkAck(frame: Uint8Array): ChunkAck {
  if (frame.length !== ACK_BYTES || frame[0] !== CHUNK_ACK_MARKER) throw new ChunkError(`a chunk ack of ${frame.length} bytes is malformed`);
  const view = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  const received = view.readUIntBE(5 + KEY_BYTES, 6);
  if (received > MAX_TRANSFER_BYTES || received % CHUNK_BYTES !== 0) throw new ChunkError(`a chunk ack names ${received} bytes, not a chunk boundary`);
  return { from: view.readUInt32BE(1), key: Buffer.from(view.subarray(5, 5 + KEY_BYTES)), received };
}

/** What a chunk did: the whole message once its last chunk is in, and where the transfer stands. */
export interface ChunkProgress {
  readonly whole: Uint8Array | undefined;
  /** Instead of `whole`, for a transfer written to disk: its head and the file of the rest, once written. */
  readonly spooled: Promise<{ head: Uint8Array; file: ReceivedFile }> | undefined;
  readonly ack: ChunkAck;
  /** Time to tell the sender how far the transfer got. */
  readonly ackDue: boolean;
  /** Read no more of the connection until this resolves: the disk is behind the transfer. */
  readonly pause: Promise<void> | undefined;
}

/**
 * Where a receiver writes transfers that are better on disk than in memory, and which those
 * are: `split` looks at a transfer's first chunk and its size and says how many of its leading
 * bytes to hold in memory (at most the chunk's), all after them going to a file; or undefined,
 * to hold it all in memory.
 */
export interface Spool {
  readonly dir: string;
  split(first: Uint8Array, total: number): number | undefined;
}

interface Partial {
  readonly total: number;
  received: number;
  /** The whole message; or, for a transfer written to disk, its first `bytes.length` bytes. */
  readonly bytes: Buffer;
  readonly file: SpoolFile | undefined;
}

/** A receiver's transfers in progress, kept across connections so a broken one can resume. */
export class ChunkAssembler {
  private readonly partials = new Map<string, Partial>();
  private files = 0;

  constructor(private readonly spool?: Spool) {}

  /** Takes a chunk frame. Throws ChunkError on a malformed chunk, or one out of place (its `ack` says where to resume). */
  push(frame: Uint8Array): ChunkProgress {
    if (frame.length <= HEADER_BYTES || frame[0] !== CHUNK_MARKER) throw new ChunkError(`a chunk frame of ${frame.length} bytes is malformed`);
    const view = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
    const from = view.readUInt32BE(CHUNK_FIELDS.from);
    const key = Buffer.from(view.subarray(CHUNK_FIELDS.key, CHUNK_FIELDS.key + KEY_BYTES));
    const offset = view.readUIntBE(CHUNK_FIELDS.offset, 6);
    const total = view.readUIntBE(CHUNK_FIELDS.total, 6);
    const part = view.subarray(HEADER_BYTES);
    const name = `${from}/${key.toString('hex')}`;
    if (offset === 0) {
      // A transfer from the start replaces what was kept of it.
      this.forget(name);
      this.partials.set(name, this.begin(from, key, total, part));
      for (const old of this.partials.keys()) if (this.partials.size > MAX_PARTIAL_TRANSFERS) this.forget(old);
    }
    const t = this.partials.get(name);
    // A resumed transfer may repeat what arrived after the last ack: it is the same bytes.
    if (t === undefined || t.total !== total || offset > t.received || offset % CHUNK_BYTES !== 0 || offset + part.length > total) {
      const received = t === undefined ? 0 : t.received - (t.received % CHUNK_BYTES);
      throw new OutOfPlaceChunk(`chunk at ${offset} of transfer ${name} arrived out of order`, { from, key, received });
    }
    if (t.file === undefined) t.bytes.set(part, offset);
    else {
      const inHead = Math.max(0, Math.min(part.length, t.bytes.length - offset));
      if (inHead > 0) t.bytes.set(part.subarray(0, inHead), offset);
      t.file.write(part.subarray(inHead), offset + inHead - t.bytes.length);
    }
    t.received = offset + part.length;
    const ack = { from, key, received: t.received };
    const pause = t.file !== undefined && t.file.queued > MAX_QUEUED_WRITE_BYTES ? t.file.below(MAX_QUEUED_WRITE_BYTES / 2) : undefined;
    if (t.received < t.total) return { whole: undefined, spooled: undefined, ack, ackDue: (t.received / CHUNK_BYTES) % ACK_EVERY_CHUNKS === 0, pause };
    this.partials.delete(name);
    if (t.file === undefined) return { whole: t.bytes, spooled: undefined, ack, ackDue: false, pause };
    const head = t.bytes;
    return { whole: undefined, spooled: t.file.finish(total - head.length).then((file) => ({ head, file })), ack, ackDue: false, pause };
  }

  /** Removes the files of every transfer still under way (the receiver is closing). */
  close(): void {
    for (const name of [...this.partials.keys()]) this.forget(name);
  }

  private begin(from: number, key: Buffer, total: number, first: Buffer): Partial {
    if (total < first.length) throw new ChunkError(`a transfer announces ${total} bytes, fewer than its first chunk`);
    const spool = this.spool;
    const split = spool !== undefined && total > first.length ? spool.split(first, total) : undefined;
    if (spool === undefined || split === undefined) {
      if (total > MAX_CHUNKED_MESSAGE_BYTES) throw new ChunkError(`a transfer announces ${total} bytes (at most ${MAX_CHUNKED_MESSAGE_BYTES} held in memory)`);
      return { total, received: 0, bytes: Buffer.allocUnsafe(total), file: undefined };
    }
    const dir = spool.dir;
    assert(Number.isSafeInteger(split) && split >= 0 && split <= first.length, () => `a transfer split at ${split}, outside its first chunk of ${first.length} bytes`);
    if (total > MAX_TRANSFER_BYTES) throw new ChunkError(`a transfer announces ${total} bytes (at most ${MAX_TRANSFER_BYTES})`);
    try {
      const disk = statfsSync(dir);
      const free = disk.bavail * disk.bsize;
      if (total - split + DISK_HEADROOM_BYTES > free) throw new ChunkError(`a transfer of ${total} bytes does not fit on the disk of ${dir} (${free} bytes free); free some space and it is sent again`);
      const file = new SpoolFile(join(dir, `transfer-${from}-${key.toString('hex')}-${++this.files}`));
      return { total, received: 0, bytes: Buffer.allocUnsafe(split), file };
    } catch (err) {
      if (err instanceof ChunkError) throw err;
      throw new ChunkError(`a transfer of ${total} bytes cannot be written to ${dir}: ${(err as Error).message}`);
    }
  }

  private forget(name: string): void {
    this.partials.get(name)?.file?.discard();
    this.partials.delete(name);
  }
}

/** A chunk that does not continue what the receiver holds; `resumeAt` tells the sender what it does hold. */
export class OutOfPlaceChunk extends ChunkError {
  constructor(
    message: string,
    readonly resumeAt: ChunkAck,
  ) {
    super(message);
  }
}
