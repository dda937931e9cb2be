import type { Entry } from '../../../src/raft/types.js';

/** Deterministic entry for an index, so a recovered log can be checked byte for byte. */
export function entryFor(index: number): Entry {
  const size = 1 + ((index * 7919) % 300);
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = (index + i * 31) & 0xff;
  return { index, term: 1 + Math.floor(index / 100), kind: index % 17 === 0 ? 'conf' : 'normal', data };
}
