import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PortalClient } from '../../src/client/portal-client.js';
import type { EtcdBackend } from '../../src/modes/etcd/backend.js';
import type { LocalEtcdCluster } from '../../src/modes/etcd/cluster.js';
import { startPortalServer, type PortalServer } from '../../src/portal/server.js';
import { silentLogger } from '../../src/util/log.js';
import { waitUntilStopped } from '../../src/util/proc-state.js';
import { etcdMissing, freshPrefix, openBackend, startTestCluster } from './helpers.js';

/** etcd without quorum, then entirely gone: the portal answers 503 in bounded time and recovers alone. */
describe.skipIf(etcdMissing)('etcd mode when etcd is unavailable', () => {
  const timeout_ms = 1_500;
  let cluster: LocalEtcdCluster;
  let backend: EtcdBackend;
  let server: PortalServer;
  let portal: PortalClient;

  beforeAll(async () => {
    cluster = await startTestCluster();
    backend = await openBackend(cluster, freshPrefix('unavailable'), { timeout_ms, call_timeout_ms: 1_000 });
    server = await startPortalServer({ backend, lang: 'en', log: silentLogger, host: '127.0.0.1', ports: [0] });
    portal = new PortalClient({ host: '127.0.0.1', port: server.ports[0]!, timeout_ms: 20_000 });
  });
  afterAll(async () => {
    portal?.close();
    await server?.shutdown();
    await backend?.close();
    await cluster?.stop();
  });

  async function expectUnavailable(cid: string) {
    const started = Date.now();
    const reply = await portal.createClient(cid, '{"name": "Ana"}');
    const took_ms = Date.now() - started;
    expect(reply).toEqual({ error: 503, description: 'The data store did not answer in time; nothing was changed. Please try again.' });
    // The margin covers a loaded CI machine; without deadlines a request to etcd without quorum never returns.
    expect(took_ms, 'a 503 comes within the configured deadline').toBeLessThan(timeout_ms + 3_000);
    const read = await portal.retrieveClient('1').then(
      () => undefined,
      (err: grpc.ServiceError) => err,
    );
    expect(read?.code, 'a read that etcd cannot answer is UNAVAILABLE, not a wrong "not found"').toBe(grpc.status.UNAVAILABLE);
  }

  /** After etcd is back, the same portal must serve again without being restarted. */
  async function expectRecovery(cid: string): Promise<number> {
    await cluster.waitHealthy(20_000);
    const started = Date.now();
    for (;;) {
      const reply = await portal.createClient(cid, '{"name": "Ana"}');
      if (reply.error === 0) break;
      expect(reply.error).toBe(503);
      expect(Date.now() - started, 'the portal recovers by itself within 15 s').toBeLessThan(15_000);
    }
    expect(await portal.retrieveClient(cid)).toEqual({ CID: cid, data: '{"nome": "Ana"}' });
    return Date.now() - started;
  }

  // docs/spec.md: R-CODE-2, R-CONS-11
  it('answers 503 "nothing was changed" without quorum and recovers when quorum returns', async () => {
    expect(await portal.createClient('1', '{"name": "Ana"}')).toEqual({ error: 0 });
    await cluster.kill('etcd1');
    await cluster.kill('etcd2');
    await expectUnavailable('2');
    await cluster.restart('etcd1');
    await cluster.restart('etcd2');
    const recovery_ms = await expectRecovery('2');
    console.log(`etcd quorum loss: portal served again ${recovery_ms} ms after the cluster was healthy`);
  });

  it('answers 503 when every member is down and recovers when they return', async () => {
    for (const member of cluster.members) await cluster.kill(member.name);
    await expectUnavailable('3');
    for (const member of cluster.members) await cluster.restart(member.name);
    const recovery_ms = await expectRecovery('3');
    console.log(`etcd all down: portal served again ${recovery_ms} ms after the cluster was healthy`);
  });

  it('answers "may have been applied" when quorum is lost between the reads and the commit', async () => {
    await cluster.waitHealthy(20_000);
    const frozen = cluster.members.slice(0, 2).map((m) => m.process!.pid!);
    const commit = backend.store.commit.bind(backend.store);
    // Freeze two members (SIGSTOP, like a long GC pause or a partition) just as the commit is sent.
    backend.store.commit = async (...args) => {
      backend.store.commit = commit;
      for (const pid of frozen) process.kill(pid, 'SIGSTOP');
      for (const pid of frozen) await waitUntilStopped(pid);
      return commit(...args);
    };
    try {
      const reply = await portal.createClient('4', '{"name": "Ana"}');
      expect(reply).toEqual({
        error: 503,
        description: 'The data store did not answer in time; the operation may have been applied. Read it back before retrying.',
      });
    } finally {
      backend.store.commit = commit;
      for (const pid of frozen) process.kill(pid, 'SIGCONT');
    }
    // Either outcome is allowed; the reply must only not have claimed one.
    await cluster.waitHealthy(20_000);
    const after = await portal.retrieveClient('4');
    console.log(`etcd frozen quorum: the unanswered commit ${after.CID === '4' ? 'was' : 'was not'} applied after all`);
  });
});
