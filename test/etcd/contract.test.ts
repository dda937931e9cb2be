import { describe } from 'vitest';
import { PortalClient } from '../../src/client/portal-client.js';
import type { LocalEtcdCluster } from '../../src/modes/etcd/cluster.js';
import { spawnEcom, waitForPort, type EcomChild } from '../../src/util/processes.js';
import { defineContractSuite } from '../contract/suite.js';
import { freePort } from '../helpers/ports.js';
import { etcdMissing, startTestCluster } from './helpers.js';

/**
 * The whole SPEC contract in etcd mode, through two real portal processes started the way a
 * user starts them (`ecom admin-server PORT --mode etcd --etcd URLS`), on a real 3-member
 * cluster. Admin calls go to one process and order calls to the other, so every rule is also
 * checked across portals.
 */
describe.skipIf(etcdMissing)('etcd mode', () => {
  defineContractSuite('etcd mode, two portal processes', async () => {
    const cluster: LocalEtcdCluster = await startTestCluster();
    const children: EcomChild[] = [];
    const clients: PortalClient[] = [];
    try {
      const urls = cluster.endpoints.join(',');
      const ports = [await freePort(), await freePort()];
      for (const [i, role] of (['admin', 'order'] as const).entries()) {
        const port = ports[i]!;
        const child = spawnEcom([`${role}-server`, String(port), '--mode', 'etcd', '--etcd', urls, '--etcd-prefix', '/contract'], {
          name: `${role}-${port}`,
          env: { ECOM_LOG_LEVEL: 'warn' },
        });
        children.push(child);
        await waitForPort('127.0.0.1', port, 20_000, () => child.process.exitCode === null);
        clients.push(new PortalClient({ host: '127.0.0.1', port }));
      }
      return {
        admin: clients[0]!,
        order: clients[1]!,
        async stop() {
          for (const client of clients) client.close();
          await Promise.all(children.map((c) => c.stop()));
          await cluster.stop();
        },
      };
    } catch (err) {
      for (const client of clients) client.close();
      await Promise.all(children.map((c) => c.kill()));
      await cluster.stop();
      throw err;
    }
  });
});
