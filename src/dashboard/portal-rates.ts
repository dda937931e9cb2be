/**
 * The portals panel's figures, from two scrapes of the portals' Prometheus metrics: requests
 * per second, p50 and p99 latency and errors, by process and RPC, over the interval between
 * the scrapes. Counters and histogram buckets only grow, so the difference of two scrapes is
 * what happened in between; a process that restarted (a counter went down) starts over.
 */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface RpcRates {
  readonly process: string;
  readonly method: string;
  readonly rps: number;
  /** Estimated from the latency histogram's buckets, as Prometheus's histogram_quantile does; undefined without calls. */
  readonly p50_ms?: number;
  readonly p99_ms?: number;
  /** Calls that ended other than OK, by gRPC code, and writes answered with an error reply, by reply code. */
  readonly errors: Readonly<Record<string, number>>;
}

const HANDLED = 'grpc_server_handled_total';
const BUCKET = 'grpc_server_handling_seconds_bucket';
const REPLIES = 'ecom_portal_replies_total';

type Key = string;
const keyOf = (s: Sample) => `${s.labels.process ?? ''}\u0000${s.labels.grpc_method ?? ''}`;

/**
 * Each series' growth from `before` to `after`, by its full identity: a reset counts from zero,
 * and a series new in a process that `before` has (its first call) from zero too. A process
 * absent from `before` (its scrape failed) is left out: its whole history is not this interval's.
 */
function growth(before: readonly Sample[], after: readonly Sample[], name: string): Array<{ sample: Sample; delta: number }> {
  const identity = (s: Sample) => JSON.stringify(Object.entries(s.labels).sort());
  const previous = new Map(before.filter((s) => s.name === name).map((s) => [identity(s), s.value]));
  const scraped = new Set(before.map((s) => s.labels.process));
  return after.filter((s) => s.name === name && scraped.has(s.labels.process)).map((sample) => {
    const then = previous.get(identity(sample)) ?? 0;
    return { sample, delta: sample.value >= then ? sample.value - then : sample.value };
  });
}

/** The q-quantile of a histogram's bucket growths (cumulative by `le`), interpolated within its bucket. */
export function quantile(q: number, buckets: ReadonlyArray<{ le: number; count: number }>): number | undefined {
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  const total = sorted.at(-1)?.count ?? 0;
  if (total <= 0) return undefined;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const bucket of sorted) {
    if (bucket.count >= rank) {
      // Beyond the last finite bound nothing is known but that bound, as histogram_quantile says.
      if (!Number.isFinite(bucket.le)) return lower;
      return lower + ((bucket.le - lower) * (rank - below)) / Math.max(1, bucket.count - below);
    }
    lower = bucket.le;
    below = bucket.count;
  }
  return lower;
}

/** How much each process's `counter` grew between two scrapes (processes whose counter did not grow are left out). */
export function counterGrowth(before: readonly Sample[], after: readonly Sample[], counter: string): Array<{ process: string; delta: number }> {
  const byProcess = new Map<string, number>();
  for (const { sample, delta } of growth(before, after, counter)) {
    const process = sample.labels.process ?? '';
    byProcess.set(process, (byProcess.get(process) ?? 0) + delta);
  }
  return [...byProcess].filter(([, delta]) => delta > 0).map(([process, delta]) => ({ process, delta }));
}

/** A gauge's value in each process that reports it. */
export function valuesByProcess(samples: readonly Sample[], gauge: string): Map<string, number> {
  return new Map(samples.filter((s) => s.name === gauge).map((s) => [s.labels.process ?? '', s.value]));
}

export function portalRates(before: readonly Sample[], after: readonly Sample[], interval_s: number): RpcRates[] {
  const rows = new Map<Key, { process: string; method: string; calls: number; errors: Record<string, number>; buckets: Map<number, number> }>();
  const row = (s: Sample) => {
    let r = rows.get(keyOf(s));
    if (r === undefined) {
      r = { process: s.labels.process ?? '', method: s.labels.grpc_method ?? '', calls: 0, errors: {}, buckets: new Map() };
      rows.set(keyOf(s), r);
    }
    return r;
  };
  for (const { sample, delta } of growth(before, after, HANDLED)) {
    const r = row(sample);
    r.calls += delta;
    const code = sample.labels.grpc_code ?? '?';
    if (code !== 'OK' && delta > 0) r.errors[code] = (r.errors[code] ?? 0) + delta;
  }
  for (const { sample, delta } of growth(before, after, REPLIES)) {
    const code = sample.labels.code ?? '?';
    if (code !== '0' && delta > 0) row(sample).errors[`reply ${code}`] = (row(sample).errors[`reply ${code}`] ?? 0) + delta;
  }
  for (const { sample, delta } of growth(before, after, BUCKET)) {
    const le = sample.labels.le === '+Inf' ? Infinity : Number(sample.labels.le);
    const buckets = row(sample).buckets;
    buckets.set(le, (buckets.get(le) ?? 0) + delta);
  }
  return [...rows.values()]
    .filter((r) => r.calls > 0 || Object.keys(r.errors).length > 0)
    .map((r) => {
      const buckets = [...r.buckets].map(([le, count]) => ({ le, count }));
      const ms = (q: number) => {
        const s = quantile(q, buckets);
        return s === undefined ? {} : { [q === 0.5 ? 'p50_ms' : 'p99_ms']: s * 1000 };
      };
      return { process: r.process, method: r.method, rps: r.calls / interval_s, errors: r.errors, ...ms(0.5), ...ms(0.99) };
    })
    .sort((a, b) => a.process.localeCompare(b.process) || a.method.localeCompare(b.method));
}
