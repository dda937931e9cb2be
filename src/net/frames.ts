/**
 * Length-prefixed frames over a byte stream: a 4-byte big-endian length, then that many bytes.
 * Written by hand because it is twenty lines and sits on the hottest path between replicas.
 */
export const FRAME_HEADER_BYTES = 4;
export const DEFAULT_MAX_FRAME_BYTES = 64 << 20;

export class FrameTooLargeError extends Error {
  override readonly name = 'FrameTooLargeError';
}

/**
 * The length prefix of a frame, to write before its payload: a megabyte chunk of a snapshot
 * is then sent as it is rather than copied behind its prefix (encodeFrame).
 */
export function frameHeader(length: number, max_bytes = DEFAULT_MAX_FRAME_BYTES): Buffer {
  if (length > max_bytes) throw new FrameTooLargeError(`frame of ${length} bytes exceeds the limit of ${max_bytes}`);
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt32BE(length, 0);
  return header;
}

export function encodeFrame(payload: Uint8Array, max_bytes = DEFAULT_MAX_FRAME_BYTES): Buffer {
  if (payload.byteLength > max_bytes) throw new FrameTooLargeError(`frame of ${payload.byteLength} bytes exceeds the limit of ${max_bytes}`);
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.byteLength);
  frame.writeUInt32BE(payload.byteLength, 0);
  frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

/**
 * Collects stream chunks and hands out whole frames. The chunks of a frame still arriving are
 * kept as they came and joined once, when the frame is whole: joining at every chunk copied a
 * 1 MiB frame some 8 times over as its 64 KiB pieces arrived (a snapshot's transfer spent most
 * of its time there).
 */
export class FrameDecoder {
  private pieces: Buffer[] = [];
  private bytes = 0;
  /** Bytes needed before anything can be handed out: a header, or the whole frame it announced. */
  private needed = FRAME_HEADER_BYTES;

  /** May be raised once a connection is trusted (see handshake.ts: small frames until then). */
  constructor(public max_bytes = DEFAULT_MAX_FRAME_BYTES) {}

  /** Returns the frames completed by `chunk`; throws FrameTooLargeError on an oversized length. */
  push(chunk: Buffer): Buffer[] {
    this.pieces.push(chunk);
    this.bytes += chunk.length;
    if (this.bytes < this.needed) return [];
    const buffered = this.pieces.length === 1 ? chunk : Buffer.concat(this.pieces, this.bytes);
    const frames: Buffer[] = [];
    let offset = 0;
    this.needed = FRAME_HEADER_BYTES;
    while (buffered.length - offset >= FRAME_HEADER_BYTES) {
      const length = buffered.readUInt32BE(offset);
      if (length > this.max_bytes) throw new FrameTooLargeError(`peer announced a frame of ${length} bytes, over the limit of ${this.max_bytes}`);
      if (buffered.length - offset - FRAME_HEADER_BYTES < length) {
        this.needed = FRAME_HEADER_BYTES + length;
        break;
      }
      frames.push(buffered.subarray(offset + FRAME_HEADER_BYTES, offset + FRAME_HEADER_BYTES + length));
      offset += FRAME_HEADER_BYTES + length;
    }
    const rest = buffered.subarray(offset);
    this.pieces = rest.length === 0 ? [] : [rest];
    this.bytes = rest.length;
    return frames;
  }
}
