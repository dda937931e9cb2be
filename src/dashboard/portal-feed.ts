import { counterGrowth, portalRates, valuesByProcess, type RpcRates, type Sample } from './portal-rates.js';
import type { NewEvent } from './timeline.js';

/**
 * Scrapes the portals' metrics once a second and keeps their rates over the last few seconds
 * for the dashboard's portals panel. The scrape itself (which processes, how) is given by the
 * owner: `ecom up` knows where its portals serve /metrics.
 */
export const SCRAPE_INTERVAL_MS = 1_000;
/** Rates are taken over about this long: steadier than one interval, still live. */
const WINDOW_MS = 3_000;
/** Scrapes kept for the window, bounded whatever the clock does. */
const KEPT = Math.ceil(WINDOW_MS / SCRAPE_INTERVAL_MS) + 1;
const RECOVERED = 'ecom_storage_transactions_recovered_total';
const PHASE2_FAILED = 'ecom_storage_transaction_phase2_failures_total';
const INVALIDATIONS = 'ecom_portal_cache_invalidations_total';
const FEED_UP = 'ecom_portal_cache_feed_up';
const CACHE_SUMMARY_MS = 10_000;

export interface PortalsView {
  readonly at: number;
  readonly window_s: number;
  readonly rows: readonly RpcRates[];
  /** Why the last scrape failed, if it did; the rows are then the last good ones. */
  readonly problem?: string;
}

export class PortalFeed {
  private readonly scrapes: Array<{ at: number; samples: readonly Sample[] }> = [];
  private latest: PortalsView | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private onEvent: (event: NewEvent) => void = () => undefined;
  /** Invalidations seen per portal since its last summary. */
  private readonly invalidated = new Map<string, { count: number; since: number }>();

  constructor(private readonly scrape: () => Promise<readonly Sample[]>) {}

  get view(): PortalsView | undefined {
    return this.latest;
  }

  /** Starts scraping; `onEvent` hears of the portals' 2PC recoveries, which only their counters tell. */
  start(onEvent: (event: NewEvent) => void = () => undefined): void {
    this.onEvent = onEvent;
    void this.round();
  }

  private tell(before: readonly Sample[], after: readonly Sample[]): void {
    for (const { process, delta } of counterGrowth(before, after, RECOVERED)) {
      this.onEvent({ kind: 'transaction', text: `${process} finished ${delta} abandoned cross-partition transaction${delta === 1 ? '' : 's'} (2PC recovery: expired locks, unfinished verdicts)` });
    }
    for (const { process, delta } of counterGrowth(before, after, PHASE2_FAILED)) {
      this.onEvent({ kind: 'transaction', text: `${process}: phase 2 of ${delta} decided transaction${delta === 1 ? '' : 's'} failed; recovery will finish ${delta === 1 ? 'it' : 'them'}` });
    }
    this.tellCache(before, after);
  }

  /** Feed changes at once; invalidations summed over CACHE_SUMMARY_MS, or under load they would fill the timeline. */
  private tellCache(before: readonly Sample[], after: readonly Sample[]): void {
    const now = Date.now();
    for (const { process, delta } of counterGrowth(before, after, INVALIDATIONS)) {
      const pending = this.invalidated.get(process) ?? { count: 0, since: now };
      pending.count += delta;
      this.invalidated.set(process, pending);
    }
    for (const [process, pending] of this.invalidated) {
      if (now - pending.since < CACHE_SUMMARY_MS) continue;
      this.invalidated.delete(process);
      this.onEvent({ kind: 'cache', text: `${process}: ${pending.count} read-cache entr${pending.count === 1 ? 'y' : 'ies'} invalidated in ${Math.round((now - pending.since) / 1000)} s (writes and the change feed named their records)` });
    }
    const wasUp = valuesByProcess(before, FEED_UP);
    for (const [process, up] of valuesByProcess(after, FEED_UP)) {
      if (wasUp.get(process) === undefined || wasUp.get(process) === up) continue;
      this.onEvent({ kind: 'cache', text: up === 1 ? `${process}: change feed back; its read cache serves again` : `${process}: change feed down; read cache cleared, reads go to storage` });
    }
  }

  private async round(): Promise<void> {
    if (this.stopped) return;
    try {
      const samples = await this.scrape();
      const at = Date.now();
      const previous = this.scrapes.at(-1);
      if (previous !== undefined) this.tell(previous.samples, samples);
      this.scrapes.push({ at, samples });
      if (this.scrapes.length > KEPT) this.scrapes.splice(0, this.scrapes.length - KEPT);
      const first = this.scrapes[0]!;
      const window_s = (at - first.at) / 1000;
      if (window_s > 0) this.latest = { at, window_s, rows: portalRates(first.samples, samples, window_s) };
    } catch (err) {
      this.latest = { at: Date.now(), window_s: 0, rows: this.latest?.rows ?? [], problem: (err as Error).message };
    }
    if (!this.stopped) this.timer = setTimeout(() => void this.round(), SCRAPE_INTERVAL_MS);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
