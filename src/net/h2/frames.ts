import type { Socket } from 'node:net';

/**
 * HTTP/2 framing (RFC 9113 §4, §6) as both of ecom's own HTTP/2 endpoints use it: the lean
 * client's connection (src/client/h2-connection.ts) and the portals' server connection
 * (server-connection.ts). Constants, the frame splitter and the frame writer live here once.
 */

/** Frame types (RFC 9113 §6). */
export const FRAME = { data: 0x0, headers: 0x1, priority: 0x2, rstStream: 0x3, settings: 0x4, pushPromise: 0x5, ping: 0x6, goaway: 0x7, windowUpdate: 0x8, continuation: 0x9 } as const;
export const FLAG = { endStream: 0x1, ack: 0x1, endHeaders: 0x4, padded: 0x8, priority: 0x20 } as const;
export const SETTING = { headerTableSize: 0x1, enablePush: 0x2, maxConcurrentStreams: 0x3, initialWindowSize: 0x4, maxFrameSize: 0x5, maxHeaderListSize: 0x6 } as const;
/** Error codes (RFC 9113 §7). */
export const H2_ERROR = {
  noError: 0x0,
  protocol: 0x1,
  internal: 0x2,
  flowControl: 0x3,
  streamClosed: 0x5,
  frameSize: 0x6,
  refusedStream: 0x7,
  cancel: 0x8,
  compression: 0x9,
  enhanceYourCalm: 0xb,
  inadequateSecurity: 0xc,
} as const;

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const FRAME_HEADER_BYTES = 9;
/** The largest frame either endpoint takes, as every peer must assume until told otherwise: neither says otherwise. */
export const MAX_FRAME_BYTES = 16_384;
export const DEFAULT_WINDOW = 65_535;
export const MAX_WINDOW = 2 ** 31 - 1;
export const MAX_STREAM_ID = 2 ** 31 - 1;

/** A peer broke the protocol: the connection ends with this code in a GOAWAY (RFC 9113 §5.4.1). */
export class H2ConnectionError extends Error {
  override readonly name = 'H2ConnectionError';
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export type FrameHandler = (type: number, flags: number, streamId: number, payload: Buffer) => void;

/**
 * Cuts a byte stream into frames. Bytes of a frame not yet whole are kept until the next chunk;
 * a frame larger than MAX_FRAME_BYTES throws H2ConnectionError (FRAME_SIZE_ERROR), with `hint`.
 */
export class FrameSplitter {
  private input: Buffer | undefined;

  constructor(private readonly oversizeHint: string) {}

  /** Hands each whole frame to `onFrame` until `stop()` says the connection is over. */
  push(chunk: Buffer, onFrame: FrameHandler, stop: () => boolean): void {
    let buf = this.input === undefined ? chunk : Buffer.concat([this.input, chunk]);
    this.input = undefined;
    while (buf.length >= FRAME_HEADER_BYTES) {
      const length = buf.readUIntBE(0, 3);
      if (length > MAX_FRAME_BYTES) throw new H2ConnectionError(H2_ERROR.frameSize, `a frame of ${length} bytes, over the ${MAX_FRAME_BYTES} allowed${this.oversizeHint}`);
      if (buf.length < FRAME_HEADER_BYTES + length) break;
      const type = buf[3]!;
      const flags = buf[4]!;
      const streamId = buf.readUInt32BE(5) & 0x7fffffff;
      const payload = buf.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + length);
      buf = buf.subarray(FRAME_HEADER_BYTES + length);
      onFrame(type, flags, streamId, payload);
      // A frame may have ended the connection (a handler closing it, a GOAWAY with nothing left).
      if (stop()) return;
    }
    this.input = buf.length === 0 ? undefined : buf;
  }
}

/** The payload without its padding (PADDED flag: a length byte first, that many bytes at the end); `skip` bytes after the length byte go too. */
export function unpadded(flags: number, payload: Buffer, skip = 0): Buffer {
  if ((flags & FLAG.padded) === 0) return skip === 0 ? payload : payload.subarray(skip);
  const pad = payload[0];
  if (pad === undefined || 1 + skip + pad > payload.length) throw new H2ConnectionError(H2_ERROR.protocol, 'padding longer than its frame');
  return payload.subarray(1 + skip, payload.length - pad);
}

const EMPTY = Buffer.alloc(0);

/** Writes frames to a socket; the frames written in one turn leave in one system call (corked until the next tick). */
export class FrameWriter {
  private corked = false;
  /** The largest frame the peer takes (its SETTINGS_MAX_FRAME_SIZE). */
  peerMaxFrame = MAX_FRAME_BYTES;

  constructor(private readonly socket: Socket) {}

  write(bytes: Buffer): void {
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(bytes);
  }

  frame(type: number, flags: number, streamId: number, payload: Buffer = EMPTY): void {
    const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
    header.writeUIntBE(payload.length, 0, 3);
    header[3] = type;
    header[4] = flags;
    header.writeUInt32BE(streamId, 5);
    this.write(header);
    if (payload.length > 0) this.write(payload);
  }

  windowUpdate(streamId: number, increment: number): void {
    const payload = Buffer.allocUnsafe(4);
    payload.writeUInt32BE(increment, 0);
    this.frame(FRAME.windowUpdate, 0, streamId, payload);
  }

  rstStream(streamId: number, code: number): void {
    const payload = Buffer.allocUnsafe(4);
    payload.writeUInt32BE(code, 0);
    this.frame(FRAME.rstStream, 0, streamId, payload);
  }

  goaway(lastStreamId: number, code: number, debug = ''): void {
    const text = Buffer.from(debug, 'utf8');
    const payload = Buffer.allocUnsafe(8 + text.length);
    payload.writeUInt32BE(lastStreamId, 0);
    payload.writeUInt32BE(code, 4);
    text.copy(payload, 8);
    this.frame(FRAME.goaway, 0, 0, payload);
  }

  /** A header block, cut into HEADERS and CONTINUATION frames no larger than the peer takes. */
  headers(streamId: number, block: Buffer, endStream = false): void {
    const end = endStream ? FLAG.endStream : 0;
    if (block.length <= this.peerMaxFrame) {
      this.frame(FRAME.headers, FLAG.endHeaders | end, streamId, block);
      return;
    }
    for (let at = 0; at < block.length; at += this.peerMaxFrame) {
      const piece = block.subarray(at, at + this.peerMaxFrame);
      const last = at + this.peerMaxFrame >= block.length;
      this.frame(at === 0 ? FRAME.headers : FRAME.continuation, (last ? FLAG.endHeaders : 0) | (at === 0 ? end : 0), streamId, piece);
    }
  }
}

/**
 * Reads SETTINGS parameters (RFC 9113 §6.5), each checked against the range RFC 9113 §6.5.2 gives
 * it before `onSetting` sees it; a payload that is not whole 6-byte pairs is a FRAME_SIZE_ERROR.
 */
export function forEachSetting(payload: Buffer, onSetting: (id: number, value: number) => void): void {
  if (payload.length % 6 !== 0) throw new H2ConnectionError(H2_ERROR.frameSize, 'SETTINGS whose length is not a multiple of 6');
  for (let at = 0; at < payload.length; at += 6) {
    const id = payload.readUInt16BE(at);
    const value = payload.readUInt32BE(at + 2);
    if (id === SETTING.initialWindowSize && value > MAX_WINDOW) throw new H2ConnectionError(H2_ERROR.flowControl, `an initial window of ${value}, over 2^31-1`);
    if (id === SETTING.maxFrameSize && (value < MAX_FRAME_BYTES || value > 2 ** 24 - 1)) throw new H2ConnectionError(H2_ERROR.protocol, `a maximum frame size of ${value}`);
    if (id === SETTING.enablePush && value > 1) throw new H2ConnectionError(H2_ERROR.protocol, `SETTINGS_ENABLE_PUSH of ${value}, neither 0 nor 1`);
    onSetting(id, value);
  }
}
