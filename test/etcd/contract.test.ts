import { describe } from 'vitest';
import { PortalClient } from '../../src/client/portal-client.js';
import type { EtcdBackend } from '../../src/modes/etcd/backend.js';
import type { LocalEtcdCluster } from '../../src/modes/etcd/cluster.js';
import { startPortalServer, type PortalServer } from '../../src/portal/server.js';
import { silentLogger } from '../../src/util/log.js';
import { spawnEcom, waitForPort, type EcomChild } from '../../src/util/processes.js';
import { defineContractSuite } from '../contract/suite.js';
import { freePort } from '../helpers/ports.js';
import { etcdMissing, openBackend, startTestCluster } from './helpers.js';

/**
 * The whole contract (docs/spec.md) in etcd mode, through two real portal processes started the way a
 * user starts them (`ecom admin-server PORT --mode etcd --etcd URLS`), on a real 3-member
 * cluster. Admin calls go to one process and order calls to the other, so every rule is also
 * checked across portals.
 */
describe.skipIf(etcdMissing)('etcd mode', () => {
  // docs/spec.md: R-MODE-4
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
        await waitForPort('127.0.0.1', port, 20_000, child);
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

/**
 * The contract again with the read cache on in both portals: `settle` waits until each portal's
 * watch has delivered everything written so far, which is all a cache may lag by.
 */
describe.skipIf(etcdMissing)('etcd mode with the read cache', () => {
  defineContractSuite('etcd mode, two cached portals', async () => {
    const cluster: LocalEtcdCluster = await startTestCluster();
    const backends: EtcdBackend[] = [];
    const servers: PortalServer[] = [];
    const clients: PortalClient[] = [];
    const stop = async () => {
      for (const client of clients) client.close();
      for (const server of servers) await server.shutdown();
      for (const backend of backends) await backend.close();
      await cluster.stop();
    };
    try {
      for (let i = 0; i < 2; i++) {
        const backend = await openBackend(cluster, '/contract-cached', { cache_ms: 60_000 });
        backends.push(backend);
        const server = await startPortalServer({ backend, lang: 'pt', log: silentLogger, host: '127.0.0.1', ports: [0] });
        servers.push(server);
        clients.push(new PortalClient({ host: '127.0.0.1', port: server.ports[0]! }));
      }
      return {
        admin: clients[0]!,
        order: clients[1]!,
        async settle() {
          // Only this shop writes to this cluster, so the current revision is the last write of ours.
          const { revision } = await backends[0]!.store.read([], undefined, Date.now() + 5_000);
          await Promise.all(backends.map((b) => b.readCache!.caughtUp(revision, 5_000)));
        },
        stop,
      };
    } catch (err) {
      await stop();
      throw err;
    }
  });
});
