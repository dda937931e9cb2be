// Record framing for the write-ahead log:
//   [payload length u32 LE][crc32c u32 LE of type+payload][type u8][payload]
// A record is valid only if it fits in the file and its checksum matches.
import type { Entry, HardState } from '../types.js';
import { crc32c } from './crc32c.js';

export const HEADER_BYTES = 9;
/** Bound on one record; anything larger is refused on write and treated as damage on read. */
export const MAX_RECORD_BYTES = 64 << 20;

export const RECORD_TYPES = { entry: 1, hardState: 2, compact: 3, reset: 4 } as const;
export type RecordType = (typeof RECORD_TYPES)[keyof typeof RECORD_TYPES];

export type LogRecord =
  | { type: 'entry'; entry: Entry }
  | { type: 'hardState'; hs: HardState }
  | { type: 'compact'; index: number }
  | { type: 'reset'; index: number };

function payloadBytes(r: LogRecord): number {
  switch (r.type) {
    case 'entry':
      return 17 + r.entry.data.length;
    case 'hardState':
      return 24;
    case 'compact':
    case 'reset':
      return 8;
  }
}

/** Bytes the record takes on disk, header included. */
export function recordBytes(r: LogRecord): number {
  return HEADER_BYTES + payloadBytes(r);
}

/** Writes the record at `at` (the caller sized `buf` with recordBytes); returns the next offset. */
export function writeRecord(buf: Buffer, at: number, r: LogRecord): number {
  const len = payloadBytes(r);
  if (len + 1 > MAX_RECORD_BYTES) throw new Error(`log record of ${len} bytes exceeds ${MAX_RECORD_BYTES}`);
  const p = at + HEADER_BYTES;
  buf.writeUInt32LE(len, at);
  switch (r.type) {
    case 'entry': {
      const e = r.entry;
      buf[at + 8] = RECORD_TYPES.entry;
      buf.writeDoubleLE(e.index, p);
      buf.writeDoubleLE(e.term, p + 8);
      buf[p + 16] = e.kind === 'conf' ? 1 : 0;
      buf.set(e.data, p + 17);
      break;
    }
    case 'hardState':
      buf[at + 8] = RECORD_TYPES.hardState;
      buf.writeDoubleLE(r.hs.term, p);
      buf.writeDoubleLE(r.hs.vote, p + 8);
      buf.writeDoubleLE(r.hs.commit, p + 16);
      break;
    case 'compact':
    case 'reset':
      buf[at + 8] = r.type === 'compact' ? RECORD_TYPES.compact : RECORD_TYPES.reset;
      buf.writeDoubleLE(r.index, p);
      break;
  }
  const end = p + len;
  buf.writeUInt32LE(crc32c(buf, at + 8, end), at + 4);
  return end;
}

export function encodeRecord(r: LogRecord): Buffer {
  const out = Buffer.allocUnsafe(recordBytes(r));
  writeRecord(out, 0, r);
  return out;
}

export type ParseResult =
  | { ok: true; record: LogRecord; next: number }
  | { ok: false; reason: string; /** true when the record claims to extend past the end of the file */ truncated: boolean };

export function parseRecord(buf: Buffer, at: number): ParseResult {
  if (at + HEADER_BYTES > buf.length) return { ok: false, reason: 'incomplete header', truncated: true };
  const len = buf.readUInt32LE(at);
  if (len + 1 > MAX_RECORD_BYTES) return { ok: false, reason: `implausible length ${len}`, truncated: false };
  const end = at + HEADER_BYTES + len;
  if (end > buf.length) return { ok: false, reason: `record of ${len} bytes runs past end of file`, truncated: true };
  const crc = buf.readUInt32LE(at + 4);
  if (crc32c(buf, at + 8, end) !== crc) return { ok: false, reason: 'checksum mismatch', truncated: false };
  const type = buf[at + 8];
  const p = at + HEADER_BYTES;
  const num = (off: number): number => buf.readDoubleLE(p + off);
  switch (type) {
    case RECORD_TYPES.entry:
      if (len < 17) return { ok: false, reason: 'short entry record', truncated: false };
      return {
        ok: true,
        next: end,
        record: {
          type: 'entry',
          entry: { index: num(0), term: num(8), kind: buf[p + 16] === 1 ? 'conf' : 'normal', data: new Uint8Array(buf.subarray(p + 17, end)) },
        },
      };
    case RECORD_TYPES.hardState:
      if (len !== 24) return { ok: false, reason: 'bad hard state record', truncated: false };
      return { ok: true, next: end, record: { type: 'hardState', hs: { term: num(0), vote: num(8), commit: num(16) } } };
    case RECORD_TYPES.compact:
    case RECORD_TYPES.reset:
      if (len !== 8) return { ok: false, reason: 'bad index record', truncated: false };
      return { ok: true, next: end, record: { type: type === RECORD_TYPES.compact ? 'compact' : 'reset', index: num(0) } };
    default:
      return { ok: false, reason: `unknown record type ${type}`, truncated: false };
  }
}
