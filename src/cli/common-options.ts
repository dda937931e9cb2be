import { Option } from 'commander';
import { DEFAULTS } from '../config/defaults.js';
import { parseLangOption, parsePort } from '../config/options.js';

/** Options several command groups share, declared once so their help reads the same everywhere. */

export const langOption = () => new Option('--lang <lang>', 'language of reply texts: pt or en (default: $ECOM_LANG, else pt)').argParser(parseLangOption);

export const hostOption = () => new Option('--host <address>', 'address to bind or connect to').default(DEFAULTS.host);

/** `--metrics-port` and `--metrics-host` of every server process (storage, portals, broker). */
export const metricsPortOption = () =>
  new Option('--metrics-port <port>', 'serve Prometheus metrics at http://METRICS-HOST:PORT/metrics (0: none; "ecom up" gives each process one)').argParser(parsePort).default(0);

export const metricsHostOption = () => new Option('--metrics-host <address>', 'address the metrics server binds; loopback unless you mean to expose it').default(DEFAULTS.host);

export interface MetricsCliOptions {
  readonly metricsPort: number;
  readonly metricsHost: string;
}
