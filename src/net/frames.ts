/**
 * Length-prefixed frames over a byte stream: a 4-byte big-endian length, then that many bytes.
 * Written by hand because it is twenty lines and sits on the hottest path between replicas.
 */
export const FRAME_HEADER_BYTES = 4;
export const DEFAULT_MAX_FRAME_BYTES = 64 << 20;

export class FrameTooLargeError extends Error {
  override readonly name = 'FrameTooLargeError';
}

export function encodeFrame(payload: Uint8Array, max_bytes = DEFAULT_MAX_FRAME_BYTES): Buffer {
  if (payload.byteLength > max_bytes) throw new FrameTooLargeError(`frame of ${payload.byteLength} bytes exceeds the limit of ${max_bytes}`);
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.byteLength);
  frame.writeUInt32BE(payload.byteLength, 0);
  frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

/** Collects stream chunks and hands out whole frames. */
export class FrameDecoder {
  private buffered: Buffer = Buffer.alloc(0);

  /** May be raised once a connection is trusted (see handshake.ts: small frames until then). */
  constructor(public max_bytes = DEFAULT_MAX_FRAME_BYTES) {}

  /** Returns the frames completed by `chunk`; throws FrameTooLargeError on an oversized length. */
  push(chunk: Buffer): Buffer[] {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const frames: Buffer[] = [];
    let offset = 0;
    while (this.buffered.length - offset >= FRAME_HEADER_BYTES) {
      const length = this.buffered.readUInt32BE(offset);
      if (length > this.max_bytes) throw new FrameTooLargeError(`peer announced a frame of ${length} bytes, over the limit of ${this.max_bytes}`);
      if (this.buffered.length - offset - FRAME_HEADER_BYTES < length) break;
      frames.push(this.buffered.subarray(offset + FRAME_HEADER_BYTES, offset + FRAME_HEADER_BYTES + length));
      offset += FRAME_HEADER_BYTES + length;
    }
    this.buffered = offset === this.buffered.length ? Buffer.alloc(0) : this.buffered.subarray(offset);
    return frames;
  }
}
