import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CodecError, decodeMessage, decodeMessageHead, encodeMessage, encodeMessageHead, locateSnapshotData } from '../../src/raft/codec.js';
import type { Message, MessageType } from '../../src/raft/types.js';

const types: MessageType[] = ['PreVote', 'PreVoteResp', 'Vote', 'VoteResp', 'App', 'AppResp', 'Heartbeat', 'HeartbeatResp', 'Snap', 'TimeoutNow'];
const u = fc.nat({ max: Number.MAX_SAFE_INTEGER });
const id = fc.nat({ max: 0xffff_ffff });
const bytes = fc.uint8Array({ maxLength: 64 });
const arbMessage: fc.Arbitrary<Message> = fc.record({
  type: fc.constantFrom(...types),
  from: id,
  to: id,
  term: u,
  logTerm: u,
  index: u,
  entries: fc.array(fc.record({ term: u, index: u, kind: fc.constantFrom('normal' as const, 'conf' as const), data: bytes }), { maxLength: 5 }),
  commit: u,
  reject: fc.boolean(),
  rejectHint: u,
  context: u,
  snapshot: fc.option(
    fc.record({
      meta: fc.record({ index: u, term: u, membership: fc.record({ voters: fc.array(id, { maxLength: 5 }), learners: fc.array(id, { maxLength: 3 }) }) }),
      data: bytes,
    }),
    { nil: undefined },
  ),
});

describe('message codec', () => {
  it('round-trips every message shape', () => {
    fc.assert(
      fc.property(arbMessage, (m) => {
        expect(decodeMessage(encodeMessage(m))).toEqual(m);
      }),
      { numRuns: 500 },
    );
  });

  it('is compact: a heartbeat takes a handful of bytes', () => {
    const hb: Message = { type: 'Heartbeat', from: 1, to: 2, term: 7, logTerm: 0, index: 0, entries: [], commit: 100, reject: false, rejectHint: 0, context: 3, snapshot: undefined };
    expect(encodeMessage(hb).length).toBeLessThanOrEqual(16);
  });

  it('refuses messages above the size bound on both sides', () => {
    const big: Message = { type: 'App', from: 1, to: 2, term: 1, logTerm: 0, index: 0, entries: [{ term: 1, index: 1, kind: 'normal', data: new Uint8Array(2000) }], commit: 0, reject: false, rejectHint: 0, context: 0, snapshot: undefined };
    expect(() => encodeMessage(big, 1000)).toThrow(CodecError);
    const frame = encodeMessage(big);
    expect(() => decodeMessage(frame, 1000)).toThrow(/exceeds/);
  });

  it('rejects truncated frames, trailing bytes and absurd counts with CodecError', () => {
    const m: Message = { type: 'App', from: 1, to: 2, term: 1, logTerm: 1, index: 4, entries: [{ term: 1, index: 5, kind: 'normal', data: new Uint8Array([1, 2, 3]) }], commit: 4, reject: false, rejectHint: 0, context: 0, snapshot: undefined };
    const frame = encodeMessage(m);
    for (let cut = 0; cut < frame.length; cut++) expect(() => decodeMessage(frame.subarray(0, cut))).toThrow(CodecError);
    expect(() => decodeMessage(new Uint8Array([...frame, 0]))).toThrow(/trailing/);
  });

  it('never fails with anything but CodecError on random input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (buf) => {
        try {
          decodeMessage(buf);
        } catch (e) {
          expect(e).toBeInstanceOf(CodecError);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('decodes a Snap\'s head apart from the data that follows it, and finds where that data starts', () => {
    fc.assert(
      fc.property(arbMessage, fc.uint8Array({ maxLength: 300 }), fc.nat({ max: 300 }), fc.nat({ max: 1 << 30 }), (m, data, cut, following) => {
        const snap: Message = { ...m, type: 'Snap', entries: [], snapshot: { meta: { index: 5, term: 2, membership: { voters: [1, 2, 3], learners: [9] } }, data: data.subarray(0, Math.min(cut, data.length)) } };
        const head = encodeMessageHead(snap, following, Number.MAX_SAFE_INTEGER);
        expect(decodeMessageHead(head, following, Number.MAX_SAFE_INTEGER)).toEqual(snap);
        const at = locateSnapshotData(head);
        expect(at).toEqual({ at: head.length - snap.snapshot!.data.length, length: snap.snapshot!.data.length + following });
        // Told the wrong amount follows, or given a head cut short, it refuses.
        expect(() => decodeMessageHead(head, following + 1, Number.MAX_SAFE_INTEGER)).toThrow(CodecError);
        if (head.length > 1) expect(() => decodeMessageHead(head.subarray(0, head.length - 1), following, Number.MAX_SAFE_INTEGER)).toThrow(CodecError);
        expect(() => decodeMessageHead(head, following, head.length + following - 1)).toThrow(/exceeds/);
      }),
      { numRuns: 300 },
    );
    const app: Message = { type: 'App', from: 1, to: 2, term: 1, logTerm: 1, index: 4, entries: [], commit: 4, reject: false, rejectHint: 0, context: 0, snapshot: undefined };
    expect(locateSnapshotData(encodeMessage(app))).toBeUndefined();
    expect(() => decodeMessageHead(encodeMessage(app), 0)).toThrow(/no snapshot data/);
  });

  it('never fails with anything but CodecError, nor locates data outside its input, on random heads', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat({ max: 1 << 20 }), (buf, following) => {
        try {
          decodeMessageHead(buf, following, 1 << 30);
        } catch (e) {
          expect(e).toBeInstanceOf(CodecError);
        }
        const at = locateSnapshotData(buf);
        if (at !== undefined) expect(at.at).toBeLessThanOrEqual(buf.length);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('decoded entries', () => {
  it('own their data: they do not pin, or change with, the buffer the frame arrived in', () => {
    fc.assert(
      fc.property(arbMessage, fc.nat({ max: 64 }), fc.nat({ max: 64 }), (m, before, after) => {
        const frame = encodeMessage(m);
        // A frame as the socket gives it: a view into a larger read shared with other frames.
        const read = Buffer.alloc(before + frame.length + after, 0xee);
        read.set(frame, before);
        const decoded = decodeMessage(read.subarray(before, before + frame.length));
        read.fill(0);
        expect(decoded.entries).toEqual(m.entries);
        const held = decoded.entries.reduce((n, e) => n + e.data.length, 0);
        for (const e of decoded.entries) {
          expect(e.data.buffer).not.toBe(read.buffer);
          expect(e.data.buffer.byteLength).toBe(held);
        }
      }),
      { numRuns: 300 },
    );
  });
});
