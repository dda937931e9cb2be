import { expect } from 'vitest';

// HTTP/2 framing, as much as the tests need to speak it over raw sockets (RFC 9113 4.1, 6).
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const FRAME_HEADERS = 0x1;
export const FRAME_RST_STREAM = 0x3;
export const FRAME_SETTINGS = 0x4;
export const FRAME_CONTINUATION = 0x9;
export const FLAG_ACK = 0x1;
export const FLAG_END_STREAM = 0x1;
export const FLAG_END_HEADERS = 0x4;
export const FLAG_PADDED = 0x8;
export const FLAG_PRIORITY = 0x20;

export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Buffer;
}

export function frame(type: number, flags: number, streamId: number, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId >>> 0, 5);
  return Buffer.concat([header, payload]);
}

/** Cuts a byte stream into frames, after skipping (and checking) a preface if one is expected. */
export function frameReader(expectPreface: boolean, onFrame: (frame: Frame) => void): (chunk: Buffer) => void {
  let pending = Buffer.alloc(0);
  let prefaceSeen = !expectPreface;
  return (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    if (!prefaceSeen) {
      if (pending.length < PREFACE.length) return;
      expect(pending.subarray(0, PREFACE.length)).toEqual(PREFACE);
      pending = pending.subarray(PREFACE.length);
      prefaceSeen = true;
    }
    while (pending.length >= 9) {
      const length = pending.readUIntBE(0, 3);
      if (pending.length < 9 + length) return;
      onFrame({ type: pending[3]!, flags: pending[4]!, streamId: pending.readUInt32BE(5) & 0x7fffffff, payload: pending.subarray(9, 9 + length) });
      pending = pending.subarray(9 + length);
    }
  };
}

/** Joins each HEADERS frame (padding and priority taken off) with its CONTINUATIONs into one block. */
export function headerBlocks(onBlock: (streamId: number, block: Buffer) => void): (frame: Frame) => void {
  let parts: Buffer[] = [];
  return ({ type, flags, streamId, payload }) => {
    if (type === FRAME_HEADERS) {
      const padLength = (flags & FLAG_PADDED) !== 0 ? payload[0]! : 0;
      let fragment = (flags & FLAG_PADDED) !== 0 ? payload.subarray(1) : payload;
      if ((flags & FLAG_PRIORITY) !== 0) fragment = fragment.subarray(5);
      parts = [fragment.subarray(0, fragment.length - padLength)];
    } else if (type === FRAME_CONTINUATION) {
      parts.push(payload);
    } else {
      return;
    }
    if ((flags & FLAG_END_HEADERS) !== 0) onBlock(streamId, Buffer.concat(parts));
  };
}
