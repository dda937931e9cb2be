import { plantedFromEnvironment } from '../../faults/planted.js';
import { Option } from 'commander';
import { brokerOption, DEFAULT_BROKER_URL, parseBrokerUrl, parseCount, parseMilliseconds, parsePort } from '../../config/options.js';
import { DEFAULTS } from '../../config/defaults.js';
import { spawnEcom, waitForPort } from '../../util/processes.js';
import { Supervisor } from '../../util/supervisor.js';
import { claimPorts } from '../../util/ports.js';
import { restartPolicy } from '../restart-option.js';
import type { ModeDefinition, ModeOptions } from '../mode.js';
import { brokerCredentials, createClusterSecret, readClusterSecret } from '../../net/cluster-secret.js';
import { clusterSecretOption, optionalSecretFile, secretFileFrom } from '../cluster-secret-option.js';
import { DEFAULT_TOPIC_PREFIX } from './protocol.js';
import type { MetricsTarget } from '../../metrics/union.js';
import { logMetricsTargets, metricsArgs } from '../metrics-ports.js';

const START_TIMEOUT_MS = 30_000;
/** `ecom up` spaces the portals of one kind 10 ports apart, like 55006, 55016, ... */
const PORT_STEP = 10;

function stringOption(options: ModeOptions, name: string, fallback: string): string {
  const value = options[name];
  return typeof value === 'string' ? value : fallback;
}

function numberOption(options: ModeOptions, name: string, fallback: number): number {
  const value = options[name];
  return typeof value === 'number' ? value : fallback;
}

export const mqttMode: ModeDefinition = {
  name: 'mqtt',
  summary: 'every portal holds all data in memory, kept identical through an MQTT broker',
  serverOptions: () => [
    brokerOption(),
    clusterSecretOption(),
    new Option('--topic-prefix <prefix>', 'mqtt mode: prefix of the topics portals use among themselves').default(DEFAULT_TOPIC_PREFIX),
    new Option('--sync-timeout-ms <ms>', 'mqtt mode: how long to wait for a peer\'s state before going on without it').argParser(parseMilliseconds).default(1500),
  ],
  upOptions: () => [
    clusterSecretOption(),
    new Option('--admins <n>', 'mqtt mode: number of AdminPortal processes').argParser(parseCount).default(2),
    new Option('--orders <n>', 'mqtt mode: number of OrderPortal processes').argParser(parseCount).default(2),
    new Option('--broker-port <port>', 'mqtt mode: port of the embedded MQTT broker').argParser(parsePort).default(DEFAULTS.mqttPort),
  ],

  createBackend: async (options, ctx) => {
    const secretFile = optionalSecretFile(options);
    const { MqttBackend } = await import('./backend.js');
    const backend = await MqttBackend.start({
      // Checked here as well as by the option's parser: another mode may declare --broker
      // too, and commander then keeps only the first declaration (and its parser).
      brokerUrl: parseBrokerUrl(stringOption(options, 'broker', DEFAULT_BROKER_URL)),
      topicPrefix: stringOption(options, 'topicPrefix', DEFAULT_TOPIC_PREFIX),
      syncTimeout_ms: numberOption(options, 'syncTimeoutMs', 1500),
      joinsWithoutState: plantedFromEnvironment()?.has('mqtt-skip-state-transfer'),
      log: ctx.log,
      ...(secretFile === undefined ? {} : { credentials: brokerCredentials(readClusterSecret(secretFile)) }),
    });
    if (ctx.metrics !== undefined) (await import('../../metrics/mqtt-metrics.js')).watchMqttSync(ctx.metrics, () => backend.syncStats());
    return backend;
  },

  /**
   * The broker runs as its own child process, like the portals: stopping or restarting it
   * is then the same operation as for any other part, and a broker crash cannot take the
   * `up` process (and with it every portal) down.
   */
  async up(options, ctx) {
    const admins = numberOption(options, 'admins', 2);
    const orders = numberOption(options, 'orders', 2);
    const brokerPort = numberOption(options, 'brokerPort', DEFAULTS.mqttPort);
    const brokerUrl = `mqtt://${ctx.host}:${brokerPort}`;
    const children: Supervisor[] = [];
    const targets: MetricsTarget[] = [];
    const supervise = { restart: restartPolicy(options), log: ctx.log };
    const stopAll = async () => {
      // Everything is told first: a Ctrl-C reached every child too, and some exit before their turn below.
      for (const child of children) child.expectExit();
      // Portals first, so none of them logs the broker's departure as an outage.
      await Promise.all(children.filter((c) => c.current.name !== 'broker').map((c) => c.stop()));
      await Promise.all(children.filter((c) => c.current.name === 'broker').map((c) => c.stop()));
    };
    const started = async (command: string[], name: string, port: number) => {
      const args = [...command, ...(await metricsArgs(targets, name))];
      const child = new Supervisor({ name, ...supervise, start: () => spawnEcom(args, { name }) });
      children.push(child);
      await waitForPort(ctx.host, port, START_TIMEOUT_MS, child.current);
    };
    const adminPorts = Array.from({ length: admins }, (_, i) => options.adminPort + i * PORT_STEP);
    const orderPorts = Array.from({ length: orders }, (_, i) => options.orderPort + i * PORT_STEP);
    const portal = (role: string, option: string, port: number, i: number) => ({ host: ctx.host, port, option, what: `${role} ${i + 1}${i === 0 ? '' : ` (at ${option} + ${i * PORT_STEP})`}` });
    await claimPorts([
      { host: ctx.host, port: brokerPort, what: 'the MQTT broker', option: '--broker-port' },
      ...adminPorts.map((port, i) => portal('AdminPortal', '--admin-port', port, i)),
      ...orderPorts.map((port, i) => portal('OrderPortal', '--order-port', port, i)),
    ]);
    // The broker this starts takes only the cluster's credentials; the secret is made on first start.
    const secretFile = secretFileFrom(options as { clusterSecret?: unknown });
    if (createClusterSecret(secretFile)) ctx.log.info({ file: secretFile }, 'created the cluster secret (owner-only); portals started by hand take it with --cluster-secret');
    readClusterSecret(secretFile);
    try {
      await started(['broker', '--port', String(brokerPort), '--host', ctx.host, '--cluster-secret', secretFile], 'broker', brokerPort);
      const common = ['--mode', 'mqtt', '--broker', brokerUrl, '--host', ctx.host, '--lang', ctx.lang, '--cluster-secret', secretFile, ...ctx.portalSecurityArgs];
      await Promise.all([
        ...adminPorts.map((port) => started(['admin-server', String(port), ...common], `admin-${port}`, port)),
        ...orderPorts.map((port) => started(['order-server', String(port), ...common], `order-${port}`, port)),
      ]);
      ctx.log.info(
        { broker: brokerUrl, admin: adminPorts.map((p) => `${ctx.host}:${p}`), order: orderPorts.map((p) => `${ctx.host}:${p}`) },
        `mqtt mode: broker at ${brokerUrl}; AdminPortals at ${adminPorts.join(', ')}; OrderPortals at ${orderPorts.join(', ')}`,
      );
      logMetricsTargets(ctx.log, targets);
      return { adminPorts, orderPorts, stop: stopAll, metricsTargets: targets };
    } catch (err) {
      await stopAll();
      throw err;
    }
  },
};
