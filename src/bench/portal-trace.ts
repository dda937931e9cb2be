import { COORDINATOR_STAGES } from '../storage/client/coordinator.js';
import { STAGE_METRIC } from '../metrics/transaction-metrics.js';

/**
 * Where an order's time goes inside a raft-mode portal (`ecom bench run --trace`): the
 * coordinator's stage histogram (ecom_storage_transaction_stage_seconds), read from the
 * portal's /metrics before and after a run. Percentiles come from the buckets, interpolated
 * linearly inside one, so they are good to about a quarter of the bucket's width.
 */
export type StageCounts = Map<string, { readonly bounds: number[]; readonly counts: number[] }>;

export async function scrapeStages(url: string): Promise<StageCounts> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  return parseStages(await response.text());
}

/** The cumulative bucket counts of each stage in a Prometheus text exposition. */
export function parseStages(text: string): StageCounts {
  const out: StageCounts = new Map();
  const prefix = `${STAGE_METRIC}_bucket{`;
  for (const line of text.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const labels = line.slice(prefix.length, line.indexOf('}'));
    const le = /le="([^"]+)"/.exec(labels)?.[1];
    const stage = /stage="([^"]+)"/.exec(labels)?.[1];
    const count = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (le === undefined || stage === undefined || !Number.isFinite(count)) continue;
    const entry = out.get(stage) ?? { bounds: [], counts: [] };
    entry.bounds.push(le === '+Inf' ? Infinity : Number(le));
    entry.counts.push(count);
    out.set(stage, entry);
  }
  return out;
}

export interface StageFigure {
  readonly count: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
}

/** Each stage's count and percentiles over what happened between two scrapes. */
export function stagesBetween(before: StageCounts, after: StageCounts): Record<string, StageFigure> {
  const out: Record<string, StageFigure> = {};
  for (const stage of COORDINATOR_STAGES) {
    const now = after.get(stage);
    if (now === undefined) continue;
    const then = before.get(stage);
    const counts = now.counts.map((c, i) => c - (then?.counts[i] ?? 0));
    const total = counts.at(-1) ?? 0;
    if (total <= 0) continue;
    out[stage] = { count: total, p50_ms: quantile(now.bounds, counts, 0.5), p99_ms: quantile(now.bounds, counts, 0.99) };
  }
  return out;
}

function quantile(bounds: readonly number[], cumulative: readonly number[], q: number): number {
  const rank = q * (cumulative.at(-1) ?? 0);
  const i = cumulative.findIndex((c) => c >= rank);
  if (i < 0) return NaN;
  const upper = bounds[i] ?? Infinity;
  const lower = i === 0 ? 0 : (bounds[i - 1] ?? 0);
  if (!Number.isFinite(upper)) return Math.round(lower * 1e6) / 1e3;
  const below = i === 0 ? 0 : (cumulative[i - 1] ?? 0);
  const inBucket = (cumulative[i] ?? 0) - below;
  const at = inBucket === 0 ? upper : lower + ((rank - below) / inBucket) * (upper - lower);
  return Math.round(at * 1e6) / 1e3;
}

export function describePortalTrace(stages: Record<string, StageFigure>): string {
  const parts = Object.entries(stages).map(([stage, f]) => `${stage} p50 ${f.p50_ms} / p99 ${f.p99_ms} ms (${f.count})`);
  return `  trace, portal coordinator: ${parts.join('; ')}`;
}
