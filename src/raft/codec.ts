// Compact binary encoding of Raft messages for the TCP transport. Numbers are unsigned LEB128
// varints (safe integers only); every length is checked against the buffer and a hard size bound
// so a corrupt or hostile frame cannot make the decoder allocate or loop without limit.
import type { Entry, EntryKind, Membership, Message, MessageType, Snapshot } from './types.js';
import { defined } from '../util/assert.js';

export const CODEC_VERSION = 1;
/** Default bound on one encoded message; snapshots larger than this need a chunked transfer. */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 << 20;

export class CodecError extends Error {
  constructor(message: string) {
    super(`raft codec: ${message}`);
    this.name = 'CodecError';
  }
}

const TYPES: readonly MessageType[] = [
  'PreVote',
  'PreVoteResp',
  'Vote',
  'VoteResp',
  'App',
  'AppResp',
  'Heartbeat',
  'HeartbeatResp',
  'Snap',
  'TimeoutNow',
];
const TYPE_CODE = new Map<MessageType, number>(TYPES.map((t, i) => [t, i]));
const KINDS: readonly EntryKind[] = ['normal', 'conf'];

const FLAG_REJECT = 1;
const FLAG_SNAPSHOT = 2;

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    size++;
  }
  return size;
}

class Writer {
  at = 0;
  constructor(readonly buf: Uint8Array) {}
  u8(v: number): void {
    this.buf[this.at++] = v;
  }
  varint(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) throw new CodecError(`cannot encode ${n} as an unsigned varint`);
    while (n >= 0x80) {
      this.buf[this.at++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.buf[this.at++] = n;
  }
  /** `b` with its length; `following` more bytes are announced in the length and written by the caller after the buffer. */
  bytes(b: Uint8Array, following = 0): void {
    this.varint(b.length + following);
    this.buf.set(b, this.at);
    this.at += b.length;
  }
}

class Reader {
  at = 0;
  constructor(readonly buf: Uint8Array) {}
  u8(): number {
    if (this.at >= this.buf.length) throw new CodecError(`truncated at byte ${this.at}`);
    return this.buf[this.at++]!;
  }
  varint(): number {
    let n = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.u8();
      n += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (!Number.isSafeInteger(n)) throw new CodecError(`varint out of range at byte ${this.at}`);
        return n;
      }
      scale *= 0x80;
    }
    throw new CodecError(`varint too long at byte ${this.at}`);
  }
  /**
   * A view into the frame, not a copy: a snapshot's data is the bulk of its message, and copying
   * hundreds of MB into fresh memory took a receiver's event loop about a second on this VM.
   */
  view(following = 0): Uint8Array {
    const len = this.varint() - following;
    if (len < 0) throw new CodecError(`a length at byte ${this.at} is shorter than the ${following} bytes said to follow`);
    if (len > this.buf.length - this.at) throw new CodecError(`length ${len} overruns the frame at byte ${this.at}`);
    const out = this.buf.subarray(this.at, this.at + len);
    this.at += len;
    return out;
  }
  /** A count of items each at least min_item_bytes long: bounded by what is left in the frame. */
  count(min_item_bytes: number): number {
    const n = this.varint();
    if (n * min_item_bytes > this.buf.length - this.at) throw new CodecError(`count ${n} overruns the frame at byte ${this.at}`);
    return n;
  }
}

function membershipSize(m: Membership): number {
  let size = varintSize(m.voters.length) + varintSize(m.learners.length);
  for (const id of m.voters) size += varintSize(id);
  for (const id of m.learners) size += varintSize(id);
  return size;
}

/** Bytes of `m` encoded; `following` more bytes of snapshot data are counted in its length only. */
function encodedSize(m: Message, following = 0): number {
  let size = 2 + 1; // version, type, flags
  for (const n of [m.from, m.to, m.term, m.logTerm, m.index, m.commit, m.rejectHint, m.context]) size += varintSize(n);
  size += varintSize(m.entries.length);
  for (const e of m.entries) size += varintSize(e.term) + varintSize(e.index) + 1 + varintSize(e.data.length) + e.data.length;
  const s = m.snapshot;
  if (s) {
    size += varintSize(s.meta.index) + varintSize(s.meta.term) + membershipSize(s.meta.membership);
    size += varintSize(s.data.length + following) + s.data.length;
  }
  return size;
}

export function encodeMessage(m: Message, max_bytes = DEFAULT_MAX_MESSAGE_BYTES): Uint8Array {
  return encode(m, max_bytes, 0);
}

/**
 * The head of a Snap whose snapshot data goes on past `m.snapshot.data` with `following` more
 * bytes, which the caller sends right after this head (a store file streamed from disk). Head
 * and those bytes together are exactly what encodeMessage gives for the whole data, so the
 * receiver decodes them as one message; the sender never holds the file in memory.
 */
export function encodeMessageHead(m: Message, following: number, max_bytes = DEFAULT_MAX_MESSAGE_BYTES): Uint8Array {
  if (m.snapshot === undefined || !Number.isSafeInteger(following) || following < 0) throw new CodecError(`a ${m.type} message carries no snapshot data that ${following} bytes could follow`);
  return encode(m, max_bytes, following);
}

function encode(m: Message, max_bytes: number, following: number): Uint8Array {
  const size = encodedSize(m, following);
  if (size + following > max_bytes) throw new CodecError(`message of ${size + following} bytes exceeds the ${max_bytes}-byte bound`);
  const w = new Writer(new Uint8Array(size));
  w.u8(CODEC_VERSION);
  w.u8(defined(TYPE_CODE.get(m.type), () => `wire code of message type ${m.type}`));
  w.u8((m.reject ? FLAG_REJECT : 0) | (m.snapshot ? FLAG_SNAPSHOT : 0));
  for (const n of [m.from, m.to, m.term, m.logTerm, m.index, m.commit, m.rejectHint, m.context]) w.varint(n);
  w.varint(m.entries.length);
  for (const e of m.entries) {
    w.varint(e.term);
    w.varint(e.index);
    w.u8(KINDS.indexOf(e.kind));
    w.bytes(e.data);
  }
  const s = m.snapshot;
  if (s) {
    w.varint(s.meta.index);
    w.varint(s.meta.term);
    for (const list of [s.meta.membership.voters, s.meta.membership.learners]) {
      w.varint(list.length);
      for (const id of list) w.varint(id);
    }
    w.bytes(s.data, following);
  }
  if (w.at !== size) throw new CodecError(`size mismatch: wrote ${w.at} of ${size} bytes`);
  return w.buf;
}

export function decodeMessage(buf: Uint8Array, max_bytes = DEFAULT_MAX_MESSAGE_BYTES): Message {
  return decode(buf, max_bytes, 0);
}

/**
 * The inverse of encodeMessageHead: a Snap whose snapshot data goes on past `head` with
 * `following` more bytes the receiver wrote to a file as they arrived. The message's data is
 * what the head holds of it; anything but a Snap whose data ends exactly `following` bytes
 * after the head is refused.
 */
export function decodeMessageHead(head: Uint8Array, following: number, max_bytes = DEFAULT_MAX_MESSAGE_BYTES): Message {
  if (!Number.isSafeInteger(following) || following < 0) throw new CodecError(`${following} bytes cannot follow a message's head`);
  const m = decode(head, max_bytes, following);
  if (m.type !== 'Snap' || m.snapshot === undefined) throw new CodecError(`a ${m.type} message carries no snapshot data that ${following} bytes could follow`);
  return m;
}

/**
 * Where the snapshot data of the message that `prefix` starts begins, and its announced length;
 * undefined when it is no Snap or the prefix ends first. Lets a receiver decide, from a
 * transfer's first chunk, to write the data to disk as it arrives rather than hold it.
 */
export function locateSnapshotData(prefix: Uint8Array): { readonly at: number; readonly length: number } | undefined {
  try {
    const r = new Reader(prefix);
    if (r.u8() !== CODEC_VERSION || TYPES[r.u8()] !== 'Snap' || (r.u8() & FLAG_SNAPSHOT) === 0) return undefined;
    for (let i = 0; i < 8; i++) r.varint();
    if (r.varint() !== 0) return undefined; // a Snap carries no entries
    r.varint();
    r.varint();
    for (let l = 0; l < 2; l++) for (let i = r.varint(); i > 0; i--) r.varint();
    const length = r.varint();
    return { at: r.at, length };
  } catch (err) {
    if (err instanceof CodecError) return undefined;
    throw err;
  }
}

/**
 * The entries, their data copied out of the frame into one buffer of their own. A log keeps
 * entries for thousands of indexes, and a frame is a view into the socket read it arrived in
 * (64 KiB or more, shared with other frames): entries holding views pinned every such read,
 * about 20 MB of a follower's memory at 512 writes in flight against ~1 MB of entry data. One
 * buffer per message, not one per entry: a message's entries are contiguous in the log, so they
 * are compacted together and the buffer is freed whole.
 */
function readEntries(r: Reader, n: number): Entry[] {
  if (n === 0) return [];
  const heads: { term: number; index: number; kind: Entry['kind'] }[] = [];
  const views: Uint8Array[] = [];
  let total = 0;
  for (let i = 0; i < n; i++) {
    const term = r.varint();
    const index = r.varint();
    const kind = KINDS[r.u8()];
    if (kind === undefined) throw new CodecError(`unknown entry kind at byte ${r.at - 1}`);
    const view = r.view();
    heads.push({ term, index, kind });
    views.push(view);
    total += view.length;
  }
  const own = new Uint8Array(total);
  const entries: Entry[] = [];
  let at = 0;
  for (let i = 0; i < n; i++) {
    const [head, view] = [heads[i]!, views[i]!];
    own.set(view, at);
    entries.push({ term: head.term, index: head.index, kind: head.kind, data: own.subarray(at, at + view.length) });
    at += view.length;
  }
  return entries;
}

function decode(buf: Uint8Array, max_bytes: number, following: number): Message {
  if (buf.length + following > max_bytes) throw new CodecError(`frame of ${buf.length + following} bytes exceeds the ${max_bytes}-byte bound`);
  const r = new Reader(buf);
  const version = r.u8();
  if (version !== CODEC_VERSION) throw new CodecError(`unknown version ${version}`);
  const type = TYPES[r.u8()];
  if (type === undefined) throw new CodecError('unknown message type');
  const flags = r.u8();
  const from = r.varint();
  const to = r.varint();
  const term = r.varint();
  const logTerm = r.varint();
  const index = r.varint();
  const commit = r.varint();
  const rejectHint = r.varint();
  const context = r.varint();
  const n = r.count(4);
  const entries = readEntries(r, n);
  let snapshot: Snapshot | undefined;
  if (flags & FLAG_SNAPSHOT) {
    const sIndex = r.varint();
    const sTerm = r.varint();
    const lists: number[][] = [];
    for (let l = 0; l < 2; l++) {
      const count = r.count(1);
      const list: number[] = [];
      for (let i = 0; i < count; i++) list.push(r.varint());
      lists.push(list);
    }
    snapshot = { meta: { index: sIndex, term: sTerm, membership: { voters: lists[0]!, learners: lists[1]! } }, data: r.view(following) };
  }
  if (r.at !== buf.length) throw new CodecError(`${buf.length - r.at} trailing bytes`);
  return { type, from, to, term, logTerm, index, entries, commit, reject: (flags & FLAG_REJECT) !== 0, rejectHint, context, snapshot };
}
