import { Counter, Gauge } from 'prom-client';
import type { MetricsRegistry } from './registry.js';

/** One partition's send window as the portal's storage client reports it (cluster-client.ts). */
export interface SendWindowView {
  readonly partition: number;
  readonly width: number;
  readonly sending: number;
  readonly waiting: number;
  readonly busy: number;
  readonly cuts: number;
  readonly notSentDeadline: number;
  readonly notSentTooManyWaiting: number;
}

/**
 * A raft-mode portal's back-pressure from the storage tier (issue #18 item 3), per partition:
 * how many proposals its send window lets out at once, how many are out and waiting, and how
 * often a leader answered "busy" or a request was given up unsent. Read from the client's
 * windows when scraped, so the hot path pays nothing for them.
 */
export function watchSendWindows(registry: MetricsRegistry, source: { sendWindows(): readonly SendWindowView[] }): void {
  const gauge = (name: string, help: string, read: (w: SendWindowView) => number) =>
    new Gauge<'partition'>({
      name,
      help,
      labelNames: ['partition'],
      registers: [registry],
      collect() {
        this.reset();
        for (const w of source.sendWindows()) this.set({ partition: String(w.partition) }, read(w));
      },
    });
  gauge('ecom_storage_client_window_width', "Proposals this portal may have at the partition's leader at once (cut by half on a busy answer, widened by answers)", (w) => w.width);
  gauge('ecom_storage_client_in_flight', "Proposals this portal has at the partition's leader now", (w) => w.sending);
  gauge('ecom_storage_client_waiting', 'Proposals waiting in this portal for room in the send window', (w) => w.waiting);
  new Counter<'partition'>({
    name: 'ecom_storage_client_busy_total',
    help: "Proposals the partition's leader refused busy (nothing appended; this portal retried them)",
    labelNames: ['partition'],
    registers: [registry],
    collect() {
      this.reset();
      for (const w of source.sendWindows()) this.inc({ partition: String(w.partition) }, w.busy);
    },
  });
  new Counter<'partition'>({
    name: 'ecom_storage_client_window_cuts_total',
    help: 'Times a busy answer halved the send window (at most once per window sent into)',
    labelNames: ['partition'],
    registers: [registry],
    collect() {
      this.reset();
      for (const w of source.sendWindows()) this.inc({ partition: String(w.partition) }, w.cuts);
    },
  });
  new Counter<'partition' | 'reason'>({
    name: 'ecom_storage_client_not_sent_total',
    help: 'Proposals given up without being sent: their deadline passed while they waited (reason="deadline"), or too many waited already (reason="too-many-waiting")',
    labelNames: ['partition', 'reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const w of source.sendWindows()) {
        this.inc({ partition: String(w.partition), reason: 'deadline' }, w.notSentDeadline);
        this.inc({ partition: String(w.partition), reason: 'too-many-waiting' }, w.notSentTooManyWaiting);
      }
    },
  });
}
