import { clientOfIndexId, type RecordKey } from '../../domain/records.js';

/** Decimal digits that every number below 10^15 < 2^53 has at most: exact as a double. */
const MAX_EXACT_DIGITS = 15;

/**
 * Which partition holds an ID. A numeric ID of any length goes to `ID mod P`, so with two
 * partitions even IDs land on partition 0 and odd ones on 1, as in the original; any other ID
 * goes by a stable hash of its UTF-8 bytes (FNV-1a, 32 bits), the same on every machine.
 */
export function partitionOf(id: string, partitions: number): number {
  if (!Number.isSafeInteger(partitions) || partitions < 1) throw new Error(`partition count must be a positive integer, got ${partitions}`);
  if (partitions === 1) return 0;
  // Up to 15 digits an ID is below 2^53, so a double holds it exactly and gives the same
  // remainder as BigInt, without allocating two BigInts on every lookup (this runs for every
  // record an order touches, on each replica and in each portal).
  if (/^\d+$/.test(id)) return id.length <= MAX_EXACT_DIGITS ? Number(id) % partitions : Number(BigInt(id) % BigInt(partitions));
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(id, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % partitions;
}

/** A client's order index lives with the client, so placing an order touches no extra partition. */
export function partitionOfKey(key: RecordKey, partitions: number): number {
  return partitionOf(key.kind === 'clientOrder' ? clientOfIndexId(key.id) : key.id, partitions);
}
