import { counterReadAtScrape, type MetricsRegistry } from './registry.js';

/** A portal's two-phase-commit coordinator's counts, kept as plain numbers by the coordinator. */
export interface TransactionCounts {
  readonly committed: number;
  readonly aborted: number;
  /** Abandoned transactions (expired locks, unfinished verdicts) this portal's recovery finished. */
  readonly recovered: number;
  /** Phase 2 runs that failed here (a partition unreachable, a timeout); recovery finishes those transactions. */
  readonly phase2Failures: number;
}

export function watchTransactions(registry: MetricsRegistry, counts: TransactionCounts): void {
  counterReadAtScrape(registry, 'ecom_storage_transactions_committed_total', 'Cross-partition transactions this portal coordinated that committed', () => counts.committed);
  counterReadAtScrape(registry, 'ecom_storage_transactions_aborted_total', 'Cross-partition transactions this portal coordinated that aborted (their locks had expired)', () => counts.aborted);
  counterReadAtScrape(registry, 'ecom_storage_transactions_recovered_total', 'Abandoned transactions (expired locks, unfinished verdicts) this portal\'s recovery finished', () => counts.recovered);
  counterReadAtScrape(registry, 'ecom_storage_transaction_phase2_failures_total', 'Phase 2 runs of decided transactions that failed here (recovery finishes them)', () => counts.phase2Failures);
}
