import { formatExposition, mergeFamilies, parseExposition, type Family } from './exposition.js';

/** A process that serves /metrics, as `ecom up` started it. */
export interface MetricsTarget {
  /** Its name in the union's `process` label: "storage-1", "admin-server-55006", ... */
  readonly process: string;
  readonly url: string;
}

/** `NAME=URL`, as `ecom dashboard --metrics-target` takes a process started by hand; throws saying what is wrong. */
export function parseMetricsTarget(text: string): MetricsTarget {
  const at = text.indexOf('=');
  const process = text.slice(0, at);
  const url = text.slice(at + 1);
  if (at < 1 || !/^[A-Za-z0-9_.:-]{1,64}$/.test(process)) throw new Error(`"${text}" is not NAME=URL with a name of letters, digits and _.:- (e.g. storage-1=http://127.0.0.1:9101/metrics)`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`"${url}" is not a URL (e.g. http://127.0.0.1:9101/metrics)`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error(`"${url}" is not an http(s) URL`);
  return { process, url: parsed.href };
}

/** Where the processes `ecom up` starts serve their metrics: loopback only. */
export const METRICS_HOST = '127.0.0.1';

export function metricsTarget(process: string, port: number, host = METRICS_HOST): MetricsTarget {
  return { process, url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/metrics` };
}

/** How long a target may take to answer before it counts as down for this scrape. */
const DEFAULT_TIMEOUT_MS = 2_000;
/** A target whose scrape is larger than this is refused as down rather than held in memory. */
const MAX_SCRAPE_BYTES = 16 << 20;

async function scrapeOne(target: MetricsTarget, timeout_ms: number): Promise<Family[]> {
  const response = await fetch(target.url, { signal: AbortSignal.timeout(timeout_ms) });
  if (!response.ok) throw new Error(`${target.url} answered ${response.status}`);
  if (Number(response.headers.get('content-length') ?? 0) > MAX_SCRAPE_BYTES) throw new Error(`${target.url} announces more than the ${MAX_SCRAPE_BYTES} bytes a scrape may hold`);
  const text = await response.text();
  if (text.length > MAX_SCRAPE_BYTES) throw new Error(`${target.url} sent ${text.length} bytes, more than the ${MAX_SCRAPE_BYTES} a scrape may hold`);
  return parseExposition(text);
}

/**
 * Every target's metrics in one scrape, each series labelled `process="<target>"`, so one
 * Prometheus job covers the local cluster. Families are merged across processes (the format
 * allows each once); a target that is down or answers garbage is left out and shows as 0 in
 * `ecom_scrape_up{process}`. A series that already has a `process` label keeps it as
 * `exported_process`, as Prometheus itself does on conflicts.
 */
export async function scrapeUnion(targets: readonly MetricsTarget[], timeout_ms = DEFAULT_TIMEOUT_MS): Promise<string> {
  const results = await Promise.allSettled(targets.map((t) => scrapeOne(t, timeout_ms)));
  const up: Family = { name: 'ecom_scrape_up', help: 'Whether the last scrape of a process through the union succeeded (1) or not (0)', type: 'gauge', samples: [] };
  const scrapes: Family[][] = [];
  for (const [i, result] of results.entries()) {
    const process = targets[i]!.process;
    up.samples.push({ name: up.name, labels: { process }, value: result.status === 'fulfilled' ? 1 : 0, valueText: result.status === 'fulfilled' ? '1' : '0' });
    if (result.status !== 'fulfilled') continue;
    scrapes.push(
      result.value.map((family) => ({
        ...family,
        samples: family.samples.map((sample) => {
          const { process: exported, ...rest } = sample.labels;
          const labels = exported === undefined ? { process, ...rest } : { process, exported_process: exported, ...rest };
          return { ...sample, labels };
        }),
      })),
    );
  }
  return formatExposition([...mergeFamilies(scrapes), up]);
}
