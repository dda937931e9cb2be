/**
 * The largest value noted in each of the last `seconds` wall-clock seconds, by epoch second: what
 * lets a reader in another process take the maximum over exactly the span it cares about (a
 * benchmark's measured window) rather than over whatever a rolling window held. Bounded: older
 * seconds are dropped as new ones begin. A value may carry a `Detail` (what made it up), kept
 * with the largest of its second.
 */
export class MaxPerSecond<Detail = never> {
  private readonly maxima = new Map<number, { readonly value: number; readonly detail: Detail | undefined }>();

  constructor(
    private readonly seconds: number,
    private readonly now_ms: () => number = () => Date.now(),
  ) {}

  note(value: number, detail?: Detail): void {
    const second = Math.floor(this.now_ms() / 1000);
    const max = this.maxima.get(second);
    if (max === undefined) {
      this.maxima.set(second, { value, detail });
      // Seconds are added in order: the oldest is the first key.
      for (const old of this.maxima.keys()) {
        if (old > second - this.seconds) break;
        this.maxima.delete(old);
      }
    } else if (value > max.value) this.maxima.set(second, { value, detail });
  }

  /** The largest value noted in the current second and the `seconds` - 1 before it (0 if none); at most the seconds kept. */
  maxOver(seconds: number): number {
    const since = Math.floor(this.now_ms() / 1000) - Math.min(seconds, this.seconds);
    let max = 0;
    for (const [second, { value }] of this.maxima) if (second > since && value > max) max = value;
    return max;
  }

  /** [epoch second, largest value noted in it], oldest first, for the seconds that had a value. */
  recent(): Array<[number, number]> {
    return this.recentWithDetail().map(([second, max]) => [second, max]);
  }

  /** The same with the detail noted with each second's largest value (undefined where none was). */
  recentWithDetail(): Array<[number, number, Detail | undefined]> {
    const since = Math.floor(this.now_ms() / 1000) - this.seconds;
    return [...this.maxima].filter(([second]) => second > since).map(([second, max]) => [second, Math.round(max.value), max.detail]);
  }
}
