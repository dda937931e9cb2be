import { METRICS_HOST, metricsTarget, type MetricsTarget } from '../metrics/union.js';
import { freePort } from '../util/ports.js';

/**
 * Gives a child of `ecom up` a metrics port of its own (from the band util/ports.ts keeps
 * clear of the system's default ports and of the kernel's) and lists it among `targets`, the
 * list one scrape of the union reads. The flags go on the child's command line, so a restart
 * serves on the same port.
 */
export async function metricsArgs(targets: MetricsTarget[], process: string): Promise<string[]> {
  const port = await freePort(METRICS_HOST);
  targets.push(metricsTarget(process, port));
  return ['--metrics-port', String(port), '--metrics-host', METRICS_HOST];
}
