import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/util/log.js';
import { ChangeSubscriber } from '../../src/storage/change-feed.js';
import { CachedBackend } from '../../src/storage/read-cache.js';
import { startTestBroker } from '../helpers/aedes.js';
import { startRaftCluster, type RaftCluster } from './cluster.js';

/**
 * The portal cache against the real tier: a stale entry never makes a write succeed (the
 * partition refuses it), and the tier's change feed over MQTT invalidates entries early.
 */
describe('portal cache in raft mode', () => {
  let broker: Awaited<ReturnType<typeof startTestBroker>>;
  let cluster: RaftCluster;
  beforeAll(async () => {
    broker = await startTestBroker();
    cluster = await startRaftCluster({ broker: broker.url });
  });
  afterAll(async () => {
    await cluster?.stop();
    await broker?.stop();
  });

  it('refuses a write that a stale cache would have allowed', async () => {
    const portalA = new CachedBackend(cluster.backend(), { bound_ms: 60_000 });
    const portalB = cluster.backend();
    expect(await portalB.execute({ op: 'CreateClient', cid: '5', data: '{"name": "Ana"}' })).toEqual({ code: 0 });
    expect(await portalA.read('client', '5')).toBeDefined();
    expect(await portalB.execute({ op: 'DeleteClient', cid: '5' })).toEqual({ code: 0 });
    // Without a change feed, portal A still believes client 5 exists...
    expect(await portalA.read('client', '5')).toBeDefined();
    // ...but the write is judged by the partition, which knows better.
    expect(await portalA.execute({ op: 'CreateOrder', oid: '8', cid: '5', data: '[]' })).toMatchObject({ code: 404, message: { key: 'orderClientNotFound' } });
  });

  it("drops cached entries when the storage tier announces a change through the broker", async () => {
    const cached = new CachedBackend(cluster.backend(), { bound_ms: 60_000 });
    let armed = false;
    let signal: () => void = () => undefined;
    const seen = new Promise<void>((resolve) => (signal = resolve));
    const feed = new ChangeSubscriber(broker.url, 'test-cache', silentLogger, (key) => {
      // Only the announcement of the update counts, not the creation's.
      if (!armed) return;
      cached.invalidate(key);
      if (key === 'product/3') signal();
    });
    await feed.ready();
    const other = cluster.backend();
    expect(await other.execute({ op: 'CreateProduct', pid: '3', data: '{"name": "P", "price": "1", "quantity": 5}' })).toEqual({ code: 0 });
    await cached.read('product', '3');
    const before = cached.size;
    armed = true;
    expect(await other.execute({ op: 'UpdateProduct', pid: '3', data: '{"name": "Q", "price": "2", "quantity": 6}' })).toEqual({ code: 0 });
    await seen;
    expect(cached.size).toBe(before - 1);
    expect((await cached.read('product', '3'))?.name).toBe('Q');
    await feed.close();
  });
});
