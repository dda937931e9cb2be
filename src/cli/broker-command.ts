import { Option, type Command } from 'commander';
import { DEFAULTS } from '../config/defaults.js';
import { startBroker } from '../modes/mqtt/broker.js';
import { clusterSecretOption } from '../modes/cluster-secret-option.js';
import { brokerCredentials, readClusterSecret } from '../net/cluster-secret.js';
import { createLogger } from '../util/log.js';
import { closeOnSignals } from '../util/shutdown.js';
import { parsePort } from '../config/options.js';
import { serveProcessMetrics } from '../metrics/process-metrics.js';
import { metricsHostOption, metricsPortOption, type MetricsCliOptions } from './common-options.js';

/** `ecom broker`: the embedded MQTT broker that mqtt-mode portals share. */
export function registerBrokerCommand(program: Command): void {
  program
    .command('broker')
    .description('Run the embedded MQTT broker (MQTT 3.1.1, in memory) that mqtt-mode portals share.')
    .addOption(new Option('--port <port>', 'port to listen on').argParser(parsePort).default(DEFAULTS.mqttPort))
    .addOption(new Option('--host <address>', 'address to bind').default(DEFAULTS.host))
    .addOption(clusterSecretOption("require the cluster's credentials (derived from this secret file) from every client; without it the broker accepts anyone, like Mosquitto's default"))
    .addOption(metricsPortOption())
    .addOption(metricsHostOption())
    .addHelpText('after', `\nExample:\n  $ ecom broker --port ${DEFAULTS.mqttPort}\n  $ ecom admin-server ${DEFAULTS.adminPort} --mode mqtt --broker mqtt://127.0.0.1:${DEFAULTS.mqttPort}`)
    .action(async (opts: { port: number; host: string; clusterSecret?: string } & MetricsCliOptions) => {
      const log = createLogger(`broker-${opts.port}`);
      const closers = closeOnSignals((signal) => log.info(`${signal}: stopping the broker`));
      // The Node process metrics only: the broker's own state is in its log.
      const served = await serveProcessMetrics(opts.metricsPort, opts.metricsHost, log);
      if (served !== undefined) closers.push(() => served.close());
      const credentials = opts.clusterSecret === undefined ? undefined : brokerCredentials(readClusterSecret(opts.clusterSecret));
      const broker = await startBroker({ host: opts.host, port: opts.port, log, ...(credentials ? { credentials } : {}) });
      closers.push(() => broker.close());
      log.info({ url: `mqtt://${broker.host}:${broker.port}`, clients: credentials ? "only with the cluster's credentials" : 'anyone (no --cluster-secret)' }, 'MQTT broker is listening');
    });
}
