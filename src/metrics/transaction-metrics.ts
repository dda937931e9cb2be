import { counterReadAtScrape, type MetricsRegistry } from './registry.js';

/** A portal's two-phase-commit coordinator's counts, kept as plain numbers by the coordinator. */
export interface TransactionCounts {
  readonly committed: number;
  readonly aborted: number;
  /** Abandoned transactions (expired locks, unfinished verdicts) this portal's recovery finished. */
  readonly recovered: number;
}

export function watchTransactions(registry: MetricsRegistry, counts: TransactionCounts): void {
  counterReadAtScrape(registry, 'ecom_storage_transactions_committed_total', 'Cross-partition transactions this portal coordinated that committed', () => counts.committed);
  counterReadAtScrape(registry, 'ecom_storage_transactions_aborted_total', 'Cross-partition transactions this portal coordinated that aborted (their locks had expired)', () => counts.aborted);
  counterReadAtScrape(registry, 'ecom_storage_transactions_recovered_total', 'Abandoned transactions (expired locks, unfinished verdicts) this portal\'s recovery finished', () => counts.recovered);
}
