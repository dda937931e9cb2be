import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PortalClient } from '../../src/client/portal-client.js';
import type { EtcdBackend } from '../../src/modes/etcd/backend.js';
import type { LocalEtcdCluster } from '../../src/modes/etcd/cluster.js';
import { startPortalServer, type PortalServer } from '../../src/portal/server.js';
import { silentLogger } from '../../src/util/log.js';
import { testSeed } from '../helpers/seed.js';
import { etcdMissing, freshPrefix, openBackend, startTestCluster } from './helpers.js';
import { checkAfterRace, raceOrders } from './workload.js';

/**
 * Many clients racing orders for the last units through two portals (each with its own etcd
 * connection), on a real 3-member cluster; then the same while the etcd leader is killed.
 */
describe.skipIf(etcdMissing)('etcd mode under concurrency', () => {
  let cluster: LocalEtcdCluster;
  const cleanups: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    cluster = await startTestCluster();
  });
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    await cluster?.stop();
  });

  /** Two portal servers on one prefix, clients for each, a backend for checking, and the shop's clients and products. */
  async function shop(label: string, stock: Map<string, number>, clientCount: number) {
    const prefix = freshPrefix(label);
    const portals: PortalClient[] = [];
    const backends: EtcdBackend[] = [];
    for (let i = 0; i < 2; i++) {
      const backend = await openBackend(cluster, prefix);
      backends.push(backend);
      const server: PortalServer = await startPortalServer({ backend, lang: 'en', log: silentLogger, host: '127.0.0.1', ports: [0] });
      const client = new PortalClient({ host: '127.0.0.1', port: server.ports[0]!, timeout_ms: 15_000 });
      portals.push(client);
      cleanups.push(async () => {
        client.close();
        await server.shutdown();
        await backend.close();
      });
    }
    const checker: EtcdBackend = await openBackend(cluster, prefix);
    cleanups.push(() => checker.close());
    const clients = Array.from({ length: clientCount }, (_, i) => `c${i}`);
    for (const cid of clients) expect(await portals[0]!.createClient(cid, '{"name": "Racer"}')).toEqual({ error: 0 });
    for (const [pid, quantity] of stock) {
      expect(await portals[1]!.createProduct(pid, JSON.stringify({ name: `P${pid}`, price: '1.25', quantity }))).toEqual({ error: 0 });
    }
    return { portals, checker, clients, backends };
  }

  // docs/spec.md: R-CONS-1, R-CONS-10, R-DEV-7
  it('never oversells and conserves units when orders race through two portals', async () => {
    const seed = testSeed('etcd race');
    const stock = new Map([
      ['1', 60],
      ['2', 40],
      ['3', 20],
    ]);
    const { portals, checker, clients, backends } = await shop('race', stock, 16);
    const setup = { portals, clients, stock, operations: 160, concurrency: 16, seed, oidPrefix: 'r' };
    const result = await raceOrders(setup);
    const conflicts = backends.reduce((sum, b) => sum + b.stats.conflicts, 0);
    console.log('etcd race replies:', Object.fromEntries(result.codes), 'transaction conflicts retried:', conflicts);
    expect(result.codes.get('create 0') ?? 0, 'some orders must win').toBeGreaterThan(0);
    expect(result.codes.get('create 400') ?? 0, 'demand exceeds stock, so some orders must lose').toBeGreaterThan(0);
    expect([...result.codes.keys()].filter((k) => k.endsWith(' 503'))).toEqual([]);
    const existing = await checkAfterRace(checker, setup, result);
    expect(existing).toBeGreaterThan(0);
    expect(conflicts, 'the race must actually make transactions collide').toBeGreaterThan(0);
  });

  it('loses no acknowledged write when the etcd leader is killed mid-run', async () => {
    const seed = testSeed('etcd leader kill');
    const stock = new Map([
      ['1', 150],
      ['2', 100],
      ['3', 80],
    ]);
    const { portals, checker, clients } = await shop('kill', stock, 12);
    const leader = await cluster.leader();
    expect(leader).toBeDefined();
    let killed: Promise<void> | undefined;
    let acknowledgedAfterKill = 0;
    const setup = {
      portals,
      clients,
      stock,
      operations: 240,
      concurrency: 12,
      seed,
      oidPrefix: 'k',
      onAcknowledged: (count: number) => {
        if (killed !== undefined) acknowledgedAfterKill++;
        if (count === 30) killed = cluster.kill(leader!);
      },
    };
    const result = await raceOrders(setup);
    await killed;
    console.log(`etcd leader kill (killed ${leader}): replies`, Object.fromEntries(result.codes));
    expect(killed, 'the leader was killed during the run').toBeDefined();
    expect(acknowledgedAfterKill, 'writes must go on being acknowledged after the kill').toBeGreaterThan(0);
    await checkAfterRace(checker, setup, result);
    expect(await cluster.leader(), 'the two survivors elected a new leader').not.toBe(leader);
    await cluster.restart(leader!);
    await cluster.waitHealthy(20_000);
  });
});
