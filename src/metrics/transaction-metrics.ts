import { Histogram } from 'prom-client';
import { counterReadAtScrape, type MetricsRegistry } from './registry.js';

/**
 * Finer than LATENCY_BUCKETS_S below 10 ms, where a transaction's Raft rounds lie: `ecom bench
 * run --trace` reads percentiles from these buckets, so they are about 25 % apart there.
 */
export const STAGE_BUCKETS_S = [
  0.0001, 0.0002, 0.0003, 0.0004, 0.0005, 0.0006, 0.0008, 0.001, 0.00125, 0.0015, 0.00175, 0.002, 0.0025, 0.003, 0.0035, 0.004, 0.005, 0.006,
  0.008, 0.01, 0.0125, 0.015, 0.02, 0.025, 0.035, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 10,
];
export const STAGE_METRIC = 'ecom_storage_transaction_stage_seconds';

/** A portal's two-phase-commit coordinator's counts, kept as plain numbers by the coordinator. */
export interface TransactionCounts {
  readonly committed: number;
  readonly aborted: number;
  /** Abandoned transactions (expired locks, unfinished verdicts) this portal's recovery finished. */
  readonly recovered: number;
  /** Phase 2 runs that failed here (a partition unreachable, a timeout); recovery finishes those transactions. */
  readonly phase2Failures: number;
}

export function watchTransactions(registry: MetricsRegistry, counts: TransactionCounts & { observeStages(observer: (stage: string, seconds: number) => void): void }): void {
  const stages = new Histogram<'stage'>({
    name: STAGE_METRIC,
    help: 'Time of each stage of the commands this portal ran on the storage tier (exec, queued, lock, decide, phase2, answered: see docs/operations.md)',
    labelNames: ['stage'],
    buckets: STAGE_BUCKETS_S,
    registers: [registry],
  });
  counts.observeStages((stage, seconds) => stages.observe({ stage }, seconds));
  counterReadAtScrape(registry, 'ecom_storage_transactions_committed_total', 'Cross-partition transactions this portal coordinated that committed', () => counts.committed);
  counterReadAtScrape(registry, 'ecom_storage_transactions_aborted_total', 'Cross-partition transactions this portal coordinated that aborted (their locks had expired)', () => counts.aborted);
  counterReadAtScrape(registry, 'ecom_storage_transactions_recovered_total', 'Abandoned transactions (expired locks, unfinished verdicts) this portal\'s recovery finished', () => counts.recovered);
  counterReadAtScrape(registry, 'ecom_storage_transaction_phase2_failures_total', 'Phase 2 runs of decided transactions that failed here (recovery finishes them)', () => counts.phase2Failures);
}
