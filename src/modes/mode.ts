import type { Option } from 'commander';
import type { Lang } from '../domain/messages.js';
import type { Backend } from '../domain/backend.js';
import type { Logger } from '../util/log.js';
import type { PortalSecurity } from '../portal/security.js';
import type { MetricsRegistry } from '../metrics/registry.js';
import type { MetricsTarget } from '../metrics/union.js';

/** What every mode is given: the language of reply texts, where to log, where to bind. */
export interface ModeContext {
  readonly lang: Lang;
  readonly log: Logger;
  readonly host: string;
  /** TLS and AdminPortal's token for the portals this process serves (none by default). */
  readonly portalSecurity: PortalSecurity;
  /** The same, as flags for the portal processes a mode starts. */
  readonly portalSecurityArgs: readonly string[];
  /** This process's metrics registry, when it serves metrics: a backend registers its own there. */
  readonly metrics?: MetricsRegistry;
}

/** Options parsed by commander; each mode reads the ones it declared. */
export type ModeOptions = Readonly<Record<string, unknown>>;

/** Where `ecom up` put the portals, for a caller (tests, the bench) that started it in-process. */
export interface RunningSystem {
  readonly adminPorts: readonly number[];
  readonly orderPorts: readonly number[];
  /** The live dashboard's address, when the mode serves one. */
  readonly dashboardUrl?: string;
  /** Every process it started that serves /metrics, for one scrape of them all (metrics/union.ts). */
  readonly metricsTargets?: readonly MetricsTarget[];
  /** Resolves when everything has stopped. */
  stop(): Promise<void>;
}

/**
 * A way of holding the data (docs/spec.md, Modes). The command line learns each mode's options and
 * behaviour from here, so adding a mode means adding one definition to the registry.
 */
export interface ModeDefinition {
  readonly name: string;
  /** One line for --help. */
  readonly summary: string;
  /** Extra options of `ecom admin-server` / `ecom order-server` in this mode. */
  readonly serverOptions: () => Option[];
  /** Extra options of `ecom up` in this mode. */
  readonly upOptions: () => Option[];
  /** The backend one portal server process uses. */
  createBackend(options: ModeOptions, ctx: ModeContext): Promise<Backend>;
  /** Runs the whole system of this mode on this machine until stop() is called. */
  up(options: ModeOptions & { adminPort: number; orderPort: number }, ctx: ModeContext): Promise<RunningSystem>;
}
