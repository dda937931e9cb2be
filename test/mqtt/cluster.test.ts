import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LinkProxy } from '../../src/net/link-proxy.js';
import { pyDumps } from '../../src/domain/pyjson.js';
import { rng } from './sim.js';
import { expectConverged, findMosquitto, freePort, MqttCluster, startBroker, stopBroker, type BrokerKind, type TestBroker, type TestPortal } from './cluster.js';

const mosquitto = findMosquitto();
const SEED = Number(process.env.MQTT_E2E_SEED ?? Date.now() % 1_000_000);
console.log(`mqtt end-to-end seed: ${SEED} (replay with MQTT_E2E_SEED=${SEED})`);

const product = (name: string, price: string, quantity: number) => JSON.stringify({ name, price, quantity });
const items = (...lines: Array<[string, number]>) => JSON.stringify(lines.map(([id, quantity]) => ({ id, quantity: String(quantity) })));

async function parallel<T>(count: number, task: (index: number) => Promise<T>): Promise<T[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => task(i)));
}

/** Runs `tasks` with at most `width` in flight. */
async function pooled(tasks: ReadonlyArray<() => Promise<unknown>>, width: number): Promise<void> {
  let next = 0;
  await parallel(width, async () => {
    while (next < tasks.length) {
      const task = tasks[next++];
      if (task !== undefined) await task();
    }
  });
}

for (const kind of ['aedes', 'mosquitto'] as BrokerKind[]) {
  // Real processes on a machine that may be crowded: bounds well above the usual few seconds.
  describe.skipIf(kind === 'mosquitto' && mosquitto === undefined)(`mqtt mode on ${kind}`, { timeout: 180_000 }, () => {
    let broker: TestBroker | undefined;
    let cluster: MqttCluster;
    let portals: TestPortal[];

    beforeAll(async () => {
      broker = await startBroker(kind, mosquitto);
      cluster = new MqttCluster(broker);
      // The first portal starts alone (empty); the others join it, two of them at the same time.
      const first = await cluster.addPortal('admin');
      const rest = await Promise.all([cluster.addPortal('admin'), cluster.addPortal('order'), cluster.addPortal('order')]);
      portals = [first, ...rest];
    }, 180_000);

    afterAll(async () => {
      await cluster?.stop();
      await stopBroker(broker);
    }, 60_000);

    // docs/spec.md: R-CONS-2
    it('keeps every portal identical under concurrent random writes through all of them', async () => {
      const random = rng(SEED);
      const ids = { clients: ['1', '2', '3', '4', '5'].map((n) => `cv${n}`), products: ['1', '2', '3', '4'].map((n) => `pv${n}`), orders: [] as string[] };
      for (let i = 0; i < 30; i++) ids.orders.push(`ov${i}`);
      const pick = <T,>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
      // Decide every operation up front from the seed; only their interleaving is left to the machine.
      const plans = Array.from({ length: 8 }, () =>
        Array.from({ length: 40 }, () => {
          const roll = random();
          const cid = pick(ids.clients);
          const pid = pick(ids.products);
          const oid = pick(ids.orders);
          const portal = pick(portals);
          const quantity = Math.floor(random() * 4);
          if (roll < 0.15) return () => portal.client.createClient(cid, JSON.stringify({ name: `n${quantity}` }));
          if (roll < 0.2) return () => portal.client.updateClient(cid, JSON.stringify({ name: `u${quantity}` }));
          if (roll < 0.35) return () => portal.client.createProduct(pid, product(`p${quantity}`, '2.50', 5 + quantity));
          if (roll < 0.4) return () => portal.client.updateProduct(pid, product('upd', '1', quantity));
          if (roll < 0.7) return () => portal.client.createOrder(oid, cid, items([pid, quantity], [pick(ids.products), 1]));
          if (roll < 0.85) return () => portal.client.updateOrder(oid, cid, items([pid, quantity]));
          if (roll < 0.95) return () => portal.client.deleteOrder(oid);
          return () => portal.client.deleteClient(cid);
        }),
      );
      const codes = new Map<number, number>();
      await Promise.all(
        plans.map(async (plan) => {
          for (const step of plan) {
            const reply = await step();
            codes.set(reply.error, (codes.get(reply.error) ?? 0) + 1);
          }
        }),
      );
      expect(codes.get(503) ?? 0).toBe(0);
      expect(codes.get(500) ?? 0).toBe(0);
      expect(codes.get(0) ?? 0).toBeGreaterThan(20);
      await expectConverged(portals, ids);
    });

    it('lets exactly one of two racing CreateClient calls win, the same one on every portal', async () => {
      const [a, b] = [portals[0] as TestPortal, portals[2] as TestPortal];
      for (let i = 0; i < 20; i++) {
        const cid = `race${i}`;
        const [ra, rb] = await Promise.all([a.client.createClient(cid, '{"name": "from-a"}'), b.client.createClient(cid, '{"name": "from-b"}')]);
        expect([ra.error, rb.error].sort()).toEqual([0, 400]);
        const winner = ra.error === 0 ? 'from-a' : 'from-b';
        await expectConverged(portals, { clients: [cid], products: [], orders: [] });
        expect((await a.client.retrieveClient(cid)).data).toBe(`{"nome": "${winner}"}`);
      }
    });

    it('never oversells the last units when many clients order through different portals', async () => {
      const admin = portals[0] as TestPortal;
      expect((await admin.client.createProduct('scarce', product('Scarce', '3', 10))).error).toBe(0);
      expect((await admin.client.createClient('buyer', '{"name": "Buyer"}')).error).toBe(0);
      const replies = await parallel(40, (i) => (portals[i % portals.length] as TestPortal).client.createOrder(`buy${i}`, 'buyer', items(['scarce', 1])));
      const sold = replies.filter((r) => r.error === 0).length;
      expect(sold).toBe(10);
      expect(replies.filter((r) => r.error !== 0).every((r) => r.error === 400)).toBe(true);
      const orders = Array.from({ length: 40 }, (_, i) => `buy${i}`);
      const view = await expectConverged(portals, { clients: ['buyer'], products: ['scarce'], orders });
      expect(view).toContain('"quantidade": "0"');
      // Units are conserved: what the orders hold plus what is left is what there was.
      const held = (await Promise.all(orders.map((oid) => admin.client.retrieveOrder(oid)))).filter((o) => o.OID !== '0').length;
      expect(held).toBe(10);
      for (const portal of portals) expect((await portal.client.retrieveClientOrders('buyer')).length).toBe(10);
    });

    // docs/spec.md: R-CONS-4
    it('publishes exactly one observer message per applied change, in the original format', async () => {
      const observer = await mqtt.connectAsync(broker?.url ?? '', { protocolVersion: 4, clean: true });
      const received: string[] = [];
      observer.on('message', (topic, payload) => {
        const text = payload.toString();
        if (text.includes('"obs-')) received.push(`${topic} ${text}`);
      });
      await observer.subscribeAsync(['clients', 'products', 'orders'], { qos: 1 });
      try {
        const [a, b, c] = portals as [TestPortal, TestPortal, TestPortal];
        expect((await a.client.createClient('obs-c', '{"name": "Ana"}')).error).toBe(0);
        expect((await b.client.updateClient('obs-c', '{"name": "Bia"}')).error).toBe(0);
        expect((await a.client.createProduct('obs-p', product('Caneta', '2.50', 8))).error).toBe(0);
        expect((await c.client.createOrder('obs-o', 'obs-c', items(['obs-p', 3]))).error).toBe(0);
        expect((await c.client.createOrder('obs-o', 'obs-c', items(['obs-p', 1]))).error).toBe(400);
        expect((await b.client.deleteOrder('obs-o')).error).toBe(0);
        const expected = [
          `clients ${pyDumps({ op: 'ADD', key: 'obs-c', data: { nome: 'Ana' } })}`,
          `clients ${pyDumps({ op: 'UPDATE', key: 'obs-c', data: { nome: 'Bia' } })}`,
          `products ${pyDumps({ op: 'ADD', key: 'obs-p', data: { nome: 'Caneta', preço: '2.50', quantidade: '8' } })}`,
          `products ${pyDumps({ op: 'UPDATE', key: 'obs-p', data: { nome: 'Caneta', preço: '2.50', quantidade: '5' } })}`,
          `orders ${pyDumps({ op: 'ADD', key: 'obs-o', data: { CID: 'obs-c', products: [{ PID: 'obs-p', price: '2.50', quantity: '3', name: 'Caneta' }], total: '7.50' } })}`,
          `products ${pyDumps({ op: 'UPDATE', key: 'obs-p', data: { nome: 'Caneta', preço: '2.50', quantidade: '8' } })}`,
          `orders ${pyDumps({ op: 'DELETE', key: 'obs-o' })}`,
        ];
        const deadline = Date.now() + 5_000;
        while (received.length < expected.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
        // A duplicate from a second portal would arrive within a few milliseconds; give it time to show up.
        await new Promise((resolve) => setTimeout(resolve, 300));
        expect([...received].sort()).toEqual([...expected].sort());
      } finally {
        await observer.endAsync();
      }
    });

    it('answers 400 at once to a write too large for the log, and nothing changes', async () => {
      const portal = portals[1] as TestPortal;
      const huge = JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024) });
      const started = Date.now();
      const reply = await portal.client.createClient('huge', huge);
      expect(reply.error).toBe(400);
      expect(reply.description).toMatch(/larger than 65536 bytes/);
      expect(Date.now() - started).toBeLessThan(2_000);
      await expectConverged(portals, { clients: ['huge'], products: [], orders: [] });
      expect((await portal.client.retrieveClient('huge')).CID).toBe('0');
    });

    // docs/spec.md: R-CONS-3, R-DEV-8
    it('a portal started after 1,000 writes serves all of them', async () => {
      const admin = portals[0] as TestPortal;
      const cids = Array.from({ length: 1000 }, (_, i) => `late${i}`);
      await pooled(
        cids.map((cid, i) => async () => {
          const reply = await (portals[i % portals.length] as TestPortal).client.createClient(cid, JSON.stringify({ name: `L${i}` }));
          expect(reply.error).toBe(0);
        }),
        32,
      );
      const late = await cluster.addPortal('order');
      try {
        const view = await expectConverged([admin, late], { clients: cids, products: [], orders: [] });
        expect(view.split('\n').filter((line) => line.endsWith('=')).length).toBe(0);
      } finally {
        await cluster.remove(late);
      }
    });

    it('a portal killed with SIGKILL and restarted catches up', async () => {
      const victim = portals[3] as TestPortal;
      await cluster.kill(victim);
      const cids = Array.from({ length: 50 }, (_, i) => `killed${i}`);
      for (const cid of cids) expect((await (portals[0] as TestPortal).client.createClient(cid, '{"name": "K"}')).error).toBe(0);
      await cluster.restart(victim);
      await expectConverged(portals, { clients: cids, products: ['scarce'], orders: [] });
      expect((await victim.client.retrieveClient('killed49')).data).toBe('{"nome": "K"}');
    });

    it('a portal whose connection to the broker is cut catches up on what it missed when it comes back', async () => {
      if (broker === undefined) throw new Error('no broker');
      // One TCP connection carries both directions of a portal's broker link: cut both.
      const proxy = new LinkProxy('portal-broker', await freePort(), broker.port, '127.0.0.1', 'both');
      await proxy.listen();
      const cut = await cluster.addPortal('order', `mqtt://127.0.0.1:${proxy.port}`);
      try {
        expect((await cut.client.createClient('cut-before', '{"name": "B"}')).error).toBe(0);
        proxy.set('drop');
        // The others keep writing while it is away; it refuses writes but still answers reads.
        const cids = Array.from({ length: 100 }, (_, i) => `cut-away${i}`);
        for (const cid of cids) expect((await (portals[0] as TestPortal).client.createClient(cid, '{"name": "W"}')).error).toBe(0);
        const refused = await cut.client.createClient('cut-refused', '{"name": "R"}');
        expect(refused.error).toBe(503);
        expect(refused.description).toMatch(/nothing was changed/);
        expect((await cut.client.retrieveClient('cut-before')).data).toBe('{"nome": "B"}');
        proxy.set('pass');
        await expectConverged([portals[0] as TestPortal, cut], { clients: ['cut-before', 'cut-refused', ...cids], products: [], orders: [] }, 15_000);
        expect((await cut.client.retrieveClient('cut-away99')).data).toBe('{"nome": "W"}');
        expect((await cut.client.retrieveClient('cut-refused')).CID).toBe('0');
        // And it accepts writes again, seen everywhere.
        const deadline = Date.now() + 15_000;
        while ((await cut.client.createClient('cut-after', '{"name": "A"}')).error !== 0) {
          if (Date.now() > deadline) throw new Error('the portal did not accept writes again');
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        await expectConverged([...portals, cut], { clients: ['cut-after', 'cut-away0'], products: [], orders: [] });
      } finally {
        await cluster.remove(cut);
        await proxy.close();
      }
    });

    // docs/spec.md: R-CONS-5, R-CLI-5, R-PORT-3
    it('a broker restart: writes get 503 during the outage, reads keep working, then everyone catches up identically', async () => {
      if (broker === undefined) throw new Error('no broker');
      const [a, b] = portals as [TestPortal, TestPortal];
      expect((await a.client.createClient('before-outage', '{"name": "B"}')).error).toBe(0);
      await expectConverged(portals, { clients: ['before-outage'], products: [], orders: [] });
      // Writes keep flowing while the broker goes away mid-run.
      let stop = false;
      let n = 0;
      const outcomes: Array<{ cid: string; code: number; text: string }> = [];
      const writer = (async () => {
        while (!stop) {
          const cid = `during${n}`;
          const reply = await (portals[n++ % portals.length] as TestPortal).client.createClient(cid, '{"name": "D"}');
          outcomes.push({ cid, code: reply.error, text: reply.description ?? '' });
          if (reply.error !== 0) await new Promise((resolve) => setTimeout(resolve, 20));
        }
      })();
      await new Promise((resolve) => setTimeout(resolve, 200));
      await broker.stop();
      // A write sent before its portal has noticed the broker's death is kept by mqtt.js and
      // sent again after the reconnection, so it may still succeed; once noticed, writes are
      // refused at once as "nothing was changed".
      const down = await b.client.createClient('while-down', '{"name": "X"}');
      outcomes.push({ cid: 'while-down', code: down.error, text: down.description ?? '' });
      const refused = await b.client.createClient('while-down-2', '{"name": "X"}');
      outcomes.push({ cid: 'while-down-2', code: refused.error, text: refused.description ?? '' });
      expect(refused.error).toBe(503);
      expect(refused.description).toMatch(/nothing was changed/);
      expect((await b.client.retrieveClient('before-outage')).data).toBe('{"nome": "B"}');
      await broker.start();
      // Wait until every portal accepts writes again (they reconnect with backoff and resynchronise).
      const deadline = Date.now() + 20_000;
      for (const portal of portals) {
        for (;;) {
          const cid = `after-${portal.port}-${Date.now()}`;
          const reply = await portal.client.createClient(cid, '{"name": "A"}');
          outcomes.push({ cid, code: reply.error, text: reply.description ?? '' });
          if (reply.error === 0) break;
          expect(reply.error).toBe(503);
          if (Date.now() > deadline) throw new Error(`portal ${portal.port} did not accept writes again`);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
      stop = true;
      await writer;
      expect(outcomes.filter((o) => o.code === 503).length).toBeGreaterThan(0);
      const cids = outcomes.map((o) => o.cid);
      const view = await expectConverged(portals, { clients: ['before-outage', ...cids], products: ['scarce'], orders: [] });
      // Every reply told the truth: acknowledged writes exist everywhere, refused ones nowhere.
      const lines = view.split('\n');
      for (const outcome of outcomes) {
        const exists = !lines.includes(`c${outcome.cid}=`);
        if (outcome.code === 0) expect(exists, `${outcome.cid} was acknowledged`).toBe(true);
        else {
          expect(outcome.code, `${outcome.cid}: ${outcome.text}`).toBe(503);
          if (outcome.text.includes('nothing was changed')) expect(exists, `${outcome.cid} was refused`).toBe(false);
        }
      }
    });
  });
}
