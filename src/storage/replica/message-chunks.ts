/**
 * Raft messages too big for one frame (a snapshot of a large partition) travel as a run of
 * chunk frames on the bulk connection and are put back together by the receiver (issue #16
 * item 3). A chunk frame starts with a marker byte no codec version uses, then the transfer's
 * number, the chunk's offset and the whole message's size; chunks of one transfer arrive in
 * order on one connection, so the receiver needs no more than one buffer per connection.
 * Written by hand: it is a header and a copy, on the replicas' own wire format.
 */
export const CHUNK_MARKER = 0xc5;
const HEADER_BYTES = 1 + 4 + 6 + 6;
/** Messages larger than this are sent in chunks of this size. */
export const CHUNK_BYTES = 1 << 20;
/**
 * The largest message a transfer may carry. A snapshot's data is one JSON text, and V8 cannot
 * hold a string longer than about 512 MiB, so nothing larger could be installed anyway.
 */
export const MAX_CHUNKED_MESSAGE_BYTES = 512 << 20;

export class ChunkError extends Error {
  override readonly name = 'ChunkError';
}

export function isChunk(frame: Uint8Array): boolean {
  return frame.length > 0 && frame[0] === CHUNK_MARKER;
}

/** The chunk frames' payloads of one message, in order. */
export function* chunksOf(message: Uint8Array, transfer: number): Generator<Buffer> {
  if (message.length > MAX_CHUNKED_MESSAGE_BYTES) throw new ChunkError(`a message of ${message.length} bytes is over the ${MAX_CHUNKED_MESSAGE_BYTES} a transfer carries`);
  for (let offset = 0; offset < message.length; offset += CHUNK_BYTES) {
    const part = message.subarray(offset, Math.min(message.length, offset + CHUNK_BYTES));
    const frame = Buffer.allocUnsafe(HEADER_BYTES + part.length);
    frame[0] = CHUNK_MARKER;
    frame.writeUInt32BE(transfer >>> 0, 1);
    frame.writeUIntBE(offset, 5, 6);
    frame.writeUIntBE(message.length, 11, 6);
    frame.set(part, HEADER_BYTES);
    yield frame;
  }
}

/** One connection's transfer in progress. */
export class ChunkAssembler {
  private transfer: { id: number; total: number; received: number; bytes: Buffer } | undefined;

  /** Takes a chunk frame; returns the whole message once its last chunk is in. Throws ChunkError on a chunk out of place. */
  push(frame: Uint8Array): Uint8Array | undefined {
    if (frame.length <= HEADER_BYTES || frame[0] !== CHUNK_MARKER) throw new ChunkError(`a chunk frame of ${frame.length} bytes is malformed`);
    const view = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
    const id = view.readUInt32BE(1);
    const offset = view.readUIntBE(5, 6);
    const total = view.readUIntBE(11, 6);
    const part = view.subarray(HEADER_BYTES);
    if (offset === 0) {
      // A new transfer replaces one cut short (the sender gave up on it and Raft sends anew).
      if (total > MAX_CHUNKED_MESSAGE_BYTES || total < part.length) throw new ChunkError(`a transfer announces ${total} bytes (at most ${MAX_CHUNKED_MESSAGE_BYTES})`);
      this.transfer = { id, total, received: 0, bytes: Buffer.allocUnsafe(total) };
    }
    const t = this.transfer;
    if (t === undefined || t.id !== id || t.total !== total || t.received !== offset || offset + part.length > total) {
      this.transfer = undefined;
      throw new ChunkError(`chunk at ${offset} of transfer ${id} arrived out of order`);
    }
    t.bytes.set(part, offset);
    t.received += part.length;
    if (t.received < t.total) return undefined;
    this.transfer = undefined;
    return t.bytes;
  }
}
