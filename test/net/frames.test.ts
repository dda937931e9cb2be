import { describe, expect, it } from 'vitest';
import { encodeFrame, FrameDecoder, FrameTooLargeError } from '../../src/net/frames.js';
import { Prng } from '../../src/util/random.js';
import { testSeed } from '../helpers/seed.js';

/** Length-prefixed frames (src/net/frames.ts), as a stream cuts them anywhere. */
describe('frames', () => {
  it('hands out every frame whole and in order, however the stream is cut', () => {
    const r = new Prng(testSeed('frames cut anywhere'));
    for (let round = 0; round < 200; round++) {
      const payloads = Array.from({ length: 1 + r.int(20) }, () => Uint8Array.from({ length: r.pick([0, 1, 3, 4, 5, r.int(200), r.int(70_000)]) }, () => r.int(256)));
      const stream = Buffer.concat(payloads.map((p) => encodeFrame(p)));
      const decoder = new FrameDecoder();
      const out: Buffer[] = [];
      for (let at = 0; at < stream.length; ) {
        const size = Math.min(stream.length - at, r.pick([1, 2, 3, 7, r.int(100), r.int(65_536)]) || 1);
        // A copy, as a socket hands out a buffer of its own each time.
        out.push(...decoder.push(Buffer.from(stream.subarray(at, at + size))).map((f) => Buffer.from(f)));
        at += size;
      }
      expect(out.map((f) => f.toString('hex'))).toEqual(payloads.map((p) => Buffer.from(p).toString('hex')));
    }
  });

  it('refuses a frame over its limit as soon as the header arrives', () => {
    const decoder = new FrameDecoder(1_000);
    expect(decoder.push(encodeFrame(new Uint8Array(10)))).toHaveLength(1);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(1_001, 0);
    expect(() => decoder.push(header.subarray(0, 2))).not.toThrow();
    expect(() => decoder.push(header.subarray(2))).toThrow(FrameTooLargeError);
    expect(() => encodeFrame(new Uint8Array(1_001), 1_000)).toThrow(FrameTooLargeError);
  });
});
