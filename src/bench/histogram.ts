/**
 * An HDR-style latency histogram: log-linear buckets over microseconds, 64 sub-buckets per
 * power of two (under 1.6 % relative error), fixed memory whatever the number of samples, and
 * mergeable, so each worker process keeps its own and the parent adds them up.
 */
const SUB_BUCKET_BITS = 6;
const SUB_BUCKETS = 1 << SUB_BUCKET_BITS; // 64
/** Longest recordable latency: ~35 minutes; anything longer is clamped (and still counted). */
const MAX_US = 2 ** 31 - 1;

function indexOf(us: number): number {
  const v = Math.min(MAX_US, Math.max(0, Math.round(us)));
  if (v < 2 * SUB_BUCKETS) return v;
  const shift = 31 - Math.clz32(v) - SUB_BUCKET_BITS;
  return shift * SUB_BUCKETS + (v >>> shift);
}

/** The middle of a bucket, in microseconds (exact below 128 µs). */
function valueOf(index: number): number {
  if (index < 2 * SUB_BUCKETS) return index;
  const shift = Math.floor(index / SUB_BUCKETS) - 1;
  const mantissa = index - shift * SUB_BUCKETS;
  const low = mantissa * 2 ** shift;
  return low + (2 ** shift - 1) / 2;
}

export interface HistogramJson {
  /** [bucket index, count] pairs, only the buckets in use. */
  readonly buckets: Array<[number, number]>;
  readonly count: number;
  readonly min_us: number;
  readonly max_us: number;
  readonly sum_us: number;
}

export interface LatencySummary {
  readonly count: number;
  readonly mean_ms: number;
  readonly p50_ms: number;
  readonly p90_ms: number;
  readonly p99_ms: number;
  readonly p999_ms: number;
  readonly max_ms: number;
}

export class Histogram {
  private readonly counts = new Map<number, number>();
  count = 0;
  min_us = Infinity;
  max_us = 0;
  sum_us = 0;

  record_ms(ms: number): void {
    this.record_us(ms * 1000);
  }

  record_us(us: number): void {
    const index = indexOf(us);
    this.counts.set(index, (this.counts.get(index) ?? 0) + 1);
    this.count++;
    this.sum_us += us;
    if (us < this.min_us) this.min_us = us;
    if (us > this.max_us) this.max_us = us;
  }

  /** The latency under which a fraction q (0..1) of the samples fall, in milliseconds. */
  quantile_ms(q: number): number {
    if (this.count === 0) return NaN;
    if (q >= 1) return this.max_us / 1000;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (const index of [...this.counts.keys()].sort((a, b) => a - b)) {
      seen += this.counts.get(index) ?? 0;
      // A bucket's middle can exceed the true maximum; never report more than was seen.
      if (seen >= rank) return Math.min(valueOf(index), this.max_us) / 1000;
    }
    return this.max_us / 1000;
  }

  summary(): LatencySummary {
    return {
      count: this.count,
      mean_ms: this.count === 0 ? NaN : this.sum_us / this.count / 1000,
      p50_ms: this.quantile_ms(0.5),
      p90_ms: this.quantile_ms(0.9),
      p99_ms: this.quantile_ms(0.99),
      p999_ms: this.quantile_ms(0.999),
      max_ms: this.count === 0 ? NaN : this.max_us / 1000,
    };
  }

  merge(other: Histogram | HistogramJson): this {
    const buckets = other instanceof Histogram ? [...other.counts.entries()] : other.buckets;
    for (const [index, n] of buckets) this.counts.set(index, (this.counts.get(index) ?? 0) + n);
    this.count += other.count;
    this.sum_us += other.sum_us;
    if (other.count > 0) {
      this.min_us = Math.min(this.min_us, other.min_us);
      this.max_us = Math.max(this.max_us, other.max_us);
    }
    return this;
  }

  toJSON(): HistogramJson {
    return { buckets: [...this.counts.entries()], count: this.count, min_us: this.count === 0 ? 0 : this.min_us, max_us: this.max_us, sum_us: this.sum_us };
  }

  static fromJSON(json: HistogramJson): Histogram {
    return new Histogram().merge(json);
  }
}
