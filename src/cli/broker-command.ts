import { Option, type Command } from 'commander';
import { DEFAULTS } from '../config/defaults.js';
import { startBroker } from '../modes/mqtt/broker.js';
import { createLogger } from '../util/log.js';
import { closeOnSignals } from '../util/shutdown.js';
import { parsePort } from '../config/options.js';

/** `ecom broker`: the embedded MQTT broker that mqtt-mode portals share. */
export function registerBrokerCommand(program: Command): void {
  program
    .command('broker')
    .description('Run the embedded MQTT broker (MQTT 3.1.1, in memory) that mqtt-mode portals share.')
    .addOption(new Option('--port <port>', 'port to listen on').argParser(parsePort).default(DEFAULTS.mqttPort))
    .addOption(new Option('--host <address>', 'address to bind').default(DEFAULTS.host))
    .addHelpText('after', `\nExample:\n  $ ecom broker --port ${DEFAULTS.mqttPort}\n  $ ecom admin-server ${DEFAULTS.adminPort} --mode mqtt --broker mqtt://127.0.0.1:${DEFAULTS.mqttPort}`)
    .action(async (opts: { port: number; host: string }) => {
      const log = createLogger(`broker-${opts.port}`);
      const closers = closeOnSignals((signal) => log.info(`${signal}: stopping the broker`));
      const broker = await startBroker({ host: opts.host, port: opts.port, log });
      closers.push(() => broker.close());
      log.info({ url: `mqtt://${broker.host}:${broker.port}` }, 'MQTT broker is listening');
    });
}
