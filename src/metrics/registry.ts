import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { formatExposition, mergeFamilies, parseExposition } from './exposition.js';

/**
 * One registry per process (issue #14 item 2): the Node process metrics (CPU, memory, event
 * loop lag, GC) plus whatever the process's parts register. A registry of its own rather than
 * prom-client's global one, so a test that runs several parts in one process keeps them apart.
 */
export type MetricsRegistry = Registry;

/**
 * A process's registry that also serves the registries of parts it runs several of (the
 * replicas of `ecom storage 1 4`): each part registers the same metric names in a registry of
 * its own, and a scrape shows every part's series in one family, told apart by its labels.
 */
export class ProcessRegistry extends Registry {
  private readonly parts: Registry[] = [];

  /** A registry whose series are served with this one's, each carrying `labels`. */
  part(labels: Readonly<Record<string, string>>): MetricsRegistry {
    const part = new Registry();
    part.setDefaultLabels({ ...labels });
    this.parts.push(part);
    return part;
  }

  override async metrics(): Promise<string> {
    if (this.parts.length === 0) return super.metrics();
    const scrapes = await Promise.all([super.metrics(), ...this.parts.map((part) => part.metrics())]);
    return formatExposition(mergeFamilies(scrapes.map(parseExposition)));
  }
}

export function createProcessRegistry(): ProcessRegistry {
  const registry = new ProcessRegistry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

/**
 * A counter whose value lives in the component as a plain number and is read only when
 * scraped: the hot path pays one integer increment, not a prom-client call.
 */
export function counterReadAtScrape(registry: MetricsRegistry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

/** A gauge read from the component when scraped. */
export function gaugeReadAtScrape(registry: MetricsRegistry, name: string, help: string, read: () => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

/** Histogram buckets for latencies of local disk and network work: 50 µs to 10 s. */
export const LATENCY_BUCKETS_S = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];
