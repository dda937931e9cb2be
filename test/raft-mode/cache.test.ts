import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/util/log.js';
import { ChangeSubscriber } from '../../src/storage/common/change-feed.js';
import { CachedBackend } from '../../src/storage/client/read-cache.js';
import { startTestBroker } from '../helpers/aedes.js';
import { startRaftCluster, type RaftCluster } from './cluster.js';

/**
 * The portal cache against the real tier: a stale entry never makes a write succeed (the
 * partition refuses it), and the tier's change feed over MQTT invalidates entries early.
 */
describe('portal cache in raft mode', () => {
  let broker: Awaited<ReturnType<typeof startTestBroker>> | undefined;
  let cluster: RaftCluster;
  beforeAll(async () => {
    broker = await startTestBroker();
    cluster = await startRaftCluster({ broker: broker.url });
  });
  afterAll(async () => {
    await cluster?.stop();
    await broker?.stop();
  });

  // docs/spec.md: R-CONS-6, R-CONS-9
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
    const feed = new ChangeSubscriber(broker!.url, 'test-cache', silentLogger, (key) => {
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

  /**
   * Announcements published while the portal's feed is down are lost (QoS 0), so the cache must
   * not trust its entries across such a gap: cleared and bypassed while down, cleared again when
   * it is back, and invalidated by announcements once more after that.
   */
  // Last: it stops the broker (and starts it again).
  it('bypasses and clears the cache while the broker is gone, and is invalidated again once it is back', { timeout: 60_000 }, async () => {
    const { port, url } = broker!;
    const cached = new CachedBackend(cluster.backend(), { bound_ms: 60_000, feed: true });
    const events: Array<'up' | 'down'> = [];
    const waiters: Array<{ check: () => boolean; resolve: () => void }> = [];
    const poke = () => {
      for (const w of [...waiters]) {
        if (!w.check()) continue;
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    };
    // Resolves once `check` holds, re-evaluated on every feed event (no polling).
    const until = (check: () => boolean) => (check() ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ check, resolve })));
    const invalidated: string[] = [];
    const feed = new ChangeSubscriber(
      url,
      'test-cache-feed',
      silentLogger,
      (key) => {
        cached.invalidate(key);
        invalidated.push(key);
        poke();
      },
      {
        onDown: () => {
          cached.feedDown();
          events.push('down');
          poke();
        },
        onUp: () => {
          cached.feedUp();
          events.push('up');
          poke();
        },
      },
    );
    try {
      // Until the first subscription nothing is cached.
      const other = cluster.backend();
      expect(await other.execute({ op: 'CreateProduct', pid: '7', data: '{"name": "A", "price": "1", "quantity": 5}' })).toEqual({ code: 0 });
      await feed.ready();
      expect(events).toEqual(['up']);
      // The leader's announcement of the create may still be on its way and land during the
      // first read, which then stays out of the cache by design; the one write is announced
      // once, so a second read is cached whatever the timing.
      await cached.read('product', '7');
      if (cached.size === 0) await cached.read('product', '7');
      expect(cached.size).toBe(1);
      const hits = cached.hits;
      expect((await cached.read('product', '7'))?.name).toBe('A');
      expect(cached.hits).toBe(hits + 1);

      // The broker goes away: the cache is emptied and every read goes to storage.
      await broker!.stop();
      broker = undefined;
      await until(() => events.includes('down'));
      expect(cached.feedConnected).toBe(false);
      expect(cached.size).toBe(0);
      // A change nobody can announce now: a cache that still served would return "A".
      expect(await other.execute({ op: 'UpdateProduct', pid: '7', data: '{"name": "B", "price": "1", "quantity": 5}' })).toEqual({ code: 0 });
      const misses = cached.misses;
      expect((await cached.read('product', '7'))?.name).toBe('B');
      expect((await cached.read('product', '7'))?.name).toBe('B');
      expect(cached.misses).toBe(misses + 2);
      expect(cached.size).toBe(0);

      // Back on the same port: the subscriber reconnects by itself and starts from an empty cache.
      broker = await startTestBroker(port);
      await until(() => events.length === 3);
      expect(events).toEqual(['up', 'down', 'up']);
      expect(cached.feedConnected).toBe(true);
      expect((await cached.read('product', '7'))?.name).toBe('B');
      expect(cached.size).toBe(1);

      // Announcements work again. The leaders' publishers reconnect on their own schedule
      // (invisible from here), so update until one update's announcement arrives.
      for (let n = 0; ; n++) {
        invalidated.length = 0;
        const name = `C${n}`;
        expect(await other.execute({ op: 'UpdateProduct', pid: '7', data: JSON.stringify({ name, price: '1', quantity: 5 }) })).toEqual({ code: 0 });
        const announced = until(() => invalidated.includes('product/7')).then(() => true);
        const late = new Promise<false>((resolve) => setTimeout(() => resolve(false), 1_000));
        if (await Promise.race([announced, late])) {
          expect(cached.size).toBe(0);
          expect((await cached.read('product', '7'))?.name).toBe(name);
          break;
        }
        waiters.length = 0;
        expect(n, 'no announcement arrived after the broker came back').toBeLessThan(20);
        cached.invalidate('product/7');
        await cached.read('product', '7');
      }
    } finally {
      await feed.close();
    }
  });
});
