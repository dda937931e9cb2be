/**
 * IDs no earlier run used: a numeric run tag, the worker's number (fixed width, so two
 * workers never produce the same string), then a counter. IDs are numeric because the tier
 * places a numeric ID by parity (even → partition 0, odd → 1): `next(p)` picks the partition.
 */
export class FreshIds {
  private counter = 0;
  private readonly prefix: string;

  constructor(runTag: string, worker: number) {
    if (!/^[1-9]\d*$/.test(runTag)) throw new Error(`run tag must be a number without leading zeros, got "${runTag}"`);
    this.prefix = `${runTag}${String(worker).padStart(3, '0')}`;
  }

  /** A fresh ID; on partition `partition` of 2 when given, else alternating between both. */
  next(partition?: 0 | 1): string {
    const n = this.counter++;
    const parity = partition ?? n % 2;
    return `${this.prefix}${2 * n + parity}`;
  }
}

/** A run tag from the clock: differs between runs started more than a millisecond apart. */
export function newRunTag(): string {
  return String(Date.now() * 10 + Math.floor(Math.random() * 10));
}
