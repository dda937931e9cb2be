import { Option, type Command } from 'commander';
import { DEFAULTS } from '../config/defaults.js';
import { parsePort, resolveLang } from '../config/options.js';
import { DEFAULT_MODE, findMode, MODES } from '../modes/registry.js';
import type { ModeContext } from '../modes/mode.js';
import { restartOption } from '../modes/restart-option.js';
import { loadPortalSecurity, portalSecurityArgs, type PortalSecurityOptions } from '../portal/security.js';
import { createLogger } from '../util/log.js';
import { closeOnSignals } from '../util/shutdown.js';
import { hostOption, langOption, metricsHostOption, metricsPortOption, type MetricsCliOptions } from './common-options.js';

/** `ecom up` (the whole system) and `ecom admin-server` / `ecom order-server` (one portal process). */

const modeOption = () =>
  new Option('--mode <mode>', `where the data lives: ${MODES.map((m) => `${m.name} (${m.summary})`).join('; ')}`).default(DEFAULT_MODE);

/** Adds every mode's options to a command; modes may share an option (the first declaration wins). */
function addModeOptions(command: Command, optionsOf: (mode: (typeof MODES)[number]) => Option[]): void {
  for (const mode of MODES) {
    for (const option of optionsOf(mode)) if (!command.options.some((o) => o.long === option.long)) command.addOption(option);
  }
}

/** The public API's opt-in protection, shared by `ecom up` and the portal servers. */
function addSecurityOptions(command: Command): Command {
  return command
    .addOption(new Option('--tls-cert <file>', 'serve the portals over TLS with this certificate chain (PEM); clients then need --tls-ca'))
    .addOption(new Option('--tls-key <file>', 'the private key (PEM) of --tls-cert'))
    .addOption(new Option('--admin-token <file>', 'AdminPortal answers only calls carrying this token ("authorization: Bearer <token>"; ecom admin --token FILE); OrderPortal stays open'));
}

function context(opts: { lang?: unknown; host: string } & PortalSecurityOptions, name: string): ModeContext {
  return { lang: resolveLang(opts.lang), log: createLogger(name), host: opts.host, portalSecurity: loadPortalSecurity(opts), portalSecurityArgs: portalSecurityArgs(opts) };
}

function registerUp(program: Command): void {
  const up = program
    .command('up')
    .description('Run the whole system on this machine; Ctrl-C stops it all cleanly.')
    .addOption(modeOption())
    .addOption(hostOption())
    .addOption(new Option('--admin-port <port>', 'AdminPortal port').argParser(parsePort).default(DEFAULTS.adminPort))
    .addOption(new Option('--order-port <port>', 'OrderPortal port').argParser(parsePort).default(DEFAULTS.orderPort))
    .addOption(langOption())
    .addHelpText('after', `\nExamples:\n  $ ecom up\n  $ ecom up --mode single --admin-port 56006 --order-port 56005 --lang en`)
    .action(async (opts: { mode: string; host: string; adminPort: number; orderPort: number; lang?: string } & PortalSecurityOptions) => {
      const mode = findMode(opts.mode);
      const ctx = context(opts, `ecom-up-${mode.name}`);
      const closers = closeOnSignals((signal) => ctx.log.info(`${signal}: stopping`));
      const system = await mode.up({ ...opts }, ctx);
      closers.push(() => system.stop());
      ctx.log.info(
        { admin: system.adminPorts.map((p) => `${ctx.host}:${p}`), order: system.orderPorts.map((p) => `${ctx.host}:${p}`), ...(system.dashboardUrl === undefined ? {} : { dashboard: system.dashboardUrl }) },
        `system is up; ${system.dashboardUrl === undefined ? '' : `watch it at ${system.dashboardUrl}; `}try "ecom admin" and "ecom order" in another terminal; Ctrl-C stops everything`,
      );
    });
  addModeOptions(up, (mode) => mode.upOptions());
  up.addOption(restartOption());
  addSecurityOptions(up);
}

function registerPortalServers(program: Command): void {
  for (const role of ['admin', 'order'] as const) {
    const name = `${role}-server`;
    const portal = role === 'admin' ? 'AdminPortal' : 'OrderPortal';
    const defaultPort = role === 'admin' ? DEFAULTS.adminPort : DEFAULTS.orderPort;
    const command = program
      .command(`${name}`)
      .description(`Run one ${portal} server (it answers both portals' services on its port).`)
      .argument('<port>', `port to serve on (the original's default: ${defaultPort})`, parsePort)
      .addOption(modeOption())
      .addOption(hostOption())
      .addOption(langOption())
      .addOption(metricsPortOption())
      .addOption(metricsHostOption())
      .addHelpText('after', `\nExamples:\n  $ ecom ${name} ${defaultPort} --mode single\n  $ ecom ${name} ${defaultPort} --metrics-port 9100   (Prometheus metrics at http://127.0.0.1:9100/metrics)`)
      .action(async (port: number, opts: { mode: string; host: string; lang?: string } & PortalSecurityOptions & MetricsCliOptions) => {
        // Loaded here, not at the top: `ecom up` shares this module and serves neither gRPC nor metrics itself.
        const [{ serveProcessMetrics }, { PortalMetrics }, { startPortalServer }] = await Promise.all([import('../metrics/process-metrics.js'), import('../metrics/portal-metrics.js'), import('../portal/server.js')]);
        const mode = findMode(opts.mode);
        const plain = context(opts, `${name}-${port}`);
        const closers = closeOnSignals((signal) => plain.log.info(`${signal}: finishing calls in flight, then stopping`));
        const served = await serveProcessMetrics(opts.metricsPort, opts.metricsHost, plain.log);
        if (served !== undefined) closers.push(() => served.close());
        const ctx = served === undefined ? plain : { ...plain, metrics: served.registry };
        const backend = await mode.createBackend({ ...opts }, ctx);
        closers.push(() => backend.close());
        const metrics = served === undefined ? undefined : new PortalMetrics(served.registry);
        const server = await startPortalServer({ backend, lang: ctx.lang, log: ctx.log, host: ctx.host, ports: [port], security: ctx.portalSecurity, metrics });
        closers.push(() => server.shutdown());
        ctx.log.info({ port: server.ports[0], host: ctx.host, mode: mode.name }, `${portal} server is serving`);
      });
    addModeOptions(command, (mode) => mode.serverOptions());
    addSecurityOptions(command);
  }
}

export function registerServerCommands(program: Command): void {
  registerUp(program);
  registerPortalServers(program);
}
