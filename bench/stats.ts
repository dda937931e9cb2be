import { cpus, loadavg } from 'node:os';

/** Latency figures for benchmark reports. */
export function percentiles(samples_ms: number[]): { p50: number; p90: number; p99: number; p999: number; max: number } {
  const sorted = [...samples_ms].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999), max: sorted[sorted.length - 1] ?? NaN };
}

export function describeMachine(): string {
  return `${cpus().length} cores (${cpus()[0]?.model ?? '?'}), Node ${process.version}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`;
}

export function fmt(ms: number): string {
  return ms < 10 ? ms.toFixed(2) : ms.toFixed(1);
}

/** Runs `op` from `concurrency` loops for `duration_ms`, after `warmup_ms`; returns throughput and latencies. */
export async function closedLoop(
  op: (i: number) => Promise<boolean>,
  options: { concurrency: number; duration_ms: number; warmup_ms?: number },
): Promise<{ ops: number; errors: number; opsPerSec: number; latencies_ms: number[] }> {
  let i = 0;
  const warmupEnd = Date.now() + (options.warmup_ms ?? 0);
  const end = warmupEnd + options.duration_ms;
  const latencies_ms: number[] = [];
  let errors = 0;
  let counted = 0;
  await Promise.all(
    Array.from({ length: options.concurrency }, async () => {
      while (Date.now() < end) {
        const started = process.hrtime.bigint();
        const ok = await op(i++);
        const now = Date.now();
        if (now < warmupEnd || now > end) continue;
        counted++;
        if (!ok) errors++;
        latencies_ms.push(Number(process.hrtime.bigint() - started) / 1e6);
      }
    }),
  );
  return { ops: counted, errors, opsPerSec: counted / (options.duration_ms / 1000), latencies_ms };
}
