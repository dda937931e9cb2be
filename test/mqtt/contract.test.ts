import { defineContractSuite } from '../contract/suite.js';
import { findMosquitto, MqttCluster, startBroker, stopBroker, type BrokerKind } from './cluster.js';

const mosquitto = findMosquitto();
const kinds: BrokerKind[] = mosquitto === undefined ? ['aedes'] : ['aedes', 'mosquitto'];

for (const kind of kinds) {
  // docs/spec.md: R-MODE-2
  defineContractSuite(`mqtt mode, 2 portal processes, ${kind}`, async () => {
    const broker = await startBroker(kind, mosquitto);
    const cluster = new MqttCluster(broker, 'pt');
    try {
      // Started together: the suite's start-up has the default hook timeout.
      const [admin, order] = await Promise.all([cluster.addPortal('admin'), cluster.addPortal('order')]);
      return {
        admin: admin.client,
        order: order.client,
        // A write through a portal is answered after that portal has applied everything the
        // broker ordered before it, which includes every write acknowledged anywhere so far.
        // A write that is always rejected is such a barrier and changes nothing.
        async settle() {
          await Promise.all([admin.client.deleteClient('settle-barrier'), order.client.deleteClient('settle-barrier')]);
        },
        async stop() {
          await cluster.stop();
          await stopBroker(broker);
        },
      };
    } catch (err) {
      await cluster.stop();
      await stopBroker(broker);
      throw err;
    }
  });
}
