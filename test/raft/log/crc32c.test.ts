import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { crc32c } from '../../../src/raft/log/crc32c.js';

/** The textbook bit-at-a-time definition, to check the table-driven one against. */
function reference(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? 0x82f63b78 ^ (crc >>> 1) : crc >>> 1;
  }
  return ~crc >>> 0;
}

describe('crc32c', () => {
  it('matches the standard check value', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa); // RFC 3720 B.4: 32 bytes of zeros
  });

  it('agrees with the bit-at-a-time definition on any input, range and continuation', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), (bytes, split) => {
        expect(crc32c(bytes)).toBe(reference(bytes));
        const cut = bytes.length === 0 ? 0 : split % bytes.length;
        expect(crc32c(bytes, cut, bytes.length, crc32c(bytes, 0, cut))).toBe(reference(bytes));
      }),
      { numRuns: 500 },
    );
  });
});
