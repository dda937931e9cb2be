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

export function encodeRecord(r: LogRecord): Buffer {
  let payload: Buffer;
  let type: number;
  switch (r.type) {
    case 'entry': {
      const e = r.entry;
      payload = Buffer.allocUnsafe(17 + e.data.length);
      payload.writeDoubleLE(e.index, 0);
      payload.writeDoubleLE(e.term, 8);
      payload[16] = e.kind === 'conf' ? 1 : 0;
      payload.set(e.data, 17);
      type = RECORD_TYPES.entry;
      break;
    }
    case 'hardState':
      payload = Buffer.allocUnsafe(24);
      payload.writeDoubleLE(r.hs.term, 0);
      payload.writeDoubleLE(r.hs.vote, 8);
      payload.writeDoubleLE(r.hs.commit, 16);
      type = RECORD_TYPES.hardState;
      break;
    case 'compact':
    case 'reset':
      payload = Buffer.allocUnsafe(8);
      payload.writeDoubleLE(r.index, 0);
      type = r.type === 'compact' ? RECORD_TYPES.compact : RECORD_TYPES.reset;
      break;
  }
  if (payload.length + 1 > MAX_RECORD_BYTES) throw new Error(`log record of ${payload.length} bytes exceeds ${MAX_RECORD_BYTES}`);
  const out = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  out.writeUInt32LE(payload.length, 0);
  out[8] = type;
  out.set(payload, HEADER_BYTES);
  out.writeUInt32LE(crc32c(out, 8, out.length), 4);
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
