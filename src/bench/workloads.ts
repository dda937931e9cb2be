import { Etcd3 } from 'etcd3';
import { PortalClient } from '../client/portal-client.js';
import { ReplicaClusterClient } from '../storage/client/cluster-client.js';
import { loadTopology } from '../storage/common/topology.js';
import { PartitionedBackend } from '../storage/client/partitioned-backend.js';
import { defined } from '../util/assert.js';
import { FreshIds } from './fresh-ids.js';
import { Histogram } from './histogram.js';
import { LeanPortalClient } from '../client/lean-portal-client.js';
import type { PortalCalls } from '../client/portal-calls.js';
import { LeanEtcdPuts } from './lean-etcd.js';
import { ProcessHealth } from './process-health.js';
import type { Target } from './targets.js';
import { MAX_VISIBILITY_READS, visibilityFloorWorkload } from './visibility-floor.js';

/**
 * The workloads `ecom bench` runs. Each one prepares its own data in the worker (seeded
 * records, fresh IDs for this run), then offers `op()`: one request, true when the reply was
 * a success. An op that throws is counted as an error too.
 */
export interface PreparedWorkload {
  op(): Promise<boolean>;
  close(): Promise<void>;
}

export interface WorkloadContext {
  readonly target: Target;
  readonly worker: number;
  readonly runTag: string;
  /** Per-request deadline. */
  readonly timeout_ms: number;
  /** Which gRPC client the measured portal and etcd calls go through (seeding always uses grpc-js). */
  readonly grpcClient: GrpcClientKind;
}

/**
 * The gRPC client of the portal and etcd workloads' measured calls. `lean` (src/client/lean-grpc.ts)
 * sends the same bytes as grpc-js (etcd3 for etcd) for a fraction of its CPU: on a machine whose
 * cores the load generator shares with the system it measures, that CPU is taken from the system
 * (docs/bench.md). The storage workloads have their own lean client, the portals' cluster client.
 */
export const GRPC_CLIENT_KINDS = ['lean', 'grpc-js'] as const;
export type GrpcClientKind = (typeof GRPC_CLIENT_KINDS)[number];
export const DEFAULT_GRPC_CLIENT: GrpcClientKind = 'lean';

export interface Workload {
  readonly name: string;
  readonly level: Target['kind'];
  readonly description: string;
  /** Set when this build does not offer the operation: the bench says so instead of faking it. */
  readonly unavailable?: string;
  /** Load-generating processes this workload runs in unless `--workers` says otherwise (else DEFAULT_WORKERS). */
  readonly workers?: number;
  prepare(ctx: WorkloadContext): Promise<PreparedWorkload>;
}

/** Load-generating processes of a run when neither `--workers` nor the workload says otherwise. */
export const DEFAULT_WORKERS = 2;

const SEEDED = 64;
const CLIENT_DATA = '{"name": "bench"}';
const PRODUCT_DATA = '{"name": "bench product", "price": "1.50", "quantity": 9007199254740991}';

function storageBackend(ctx: WorkloadContext): PartitionedBackend {
  if (ctx.target.kind !== 'storage') throw new Error(`this workload needs the storage API, not ${ctx.target.kind}`);
  return new PartitionedBackend(new ReplicaClusterClient(loadTopology(ctx.target.topologyFile)), { requestTimeout_ms: ctx.timeout_ms });
}

async function must(what: string, reply: Promise<{ code: number } | { error: number }>): Promise<void> {
  const r = await reply;
  const code = 'code' in r ? r.code : r.error;
  if (code !== 0) throw new Error(`preparing the workload: ${what} failed with ${code} (${JSON.stringify(r)})`);
}

/** True for a success reply; an error reply throws, so the bench can say what went wrong. */
function ok(reply: { code: number } | { error: number }): boolean {
  if (('code' in reply ? reply.code : reply.error) === 0) return true;
  throw new Error(`error reply ${JSON.stringify(reply)}`);
}

/** Round-robin over a list; `pick()` is cheaper than a random choice and spreads evenly. */
function cycler<T>(items: readonly T[]): () => T {
  let i = 0;
  return () => items[i++ % items.length]!;
}

async function seedStorageClients(backend: PartitionedBackend, ids: FreshIds): Promise<string[]> {
  const cids = Array.from({ length: SEEDED }, () => ids.next());
  for (const cid of cids) await must(`CreateClient ${cid}`, backend.execute({ op: 'CreateClient', cid, data: CLIENT_DATA }));
  return cids;
}

const storageWorkloads: Workload[] = [
  {
    name: 'put',
    level: 'storage',
    description: 'durable write: CreateClient with a fresh ID, alternating between both partitions (one Raft commit, fsync before the reply)',
    prepare(ctx) {
      const backend = storageBackend(ctx);
      const ids = new FreshIds(ctx.runTag, ctx.worker);
      return Promise.resolve({
        op: async () => ok(await backend.execute({ op: 'CreateClient', cid: ids.next(), data: CLIENT_DATA })),
        close: () => backend.close(),
      });
    },
  },
  {
    name: 'put-one-partition',
    level: 'storage',
    description: 'durable write like "put", all on partition 0 (3 replicas: the same shape as a 3-member etcd)',
    prepare(ctx) {
      const backend = storageBackend(ctx);
      const ids = new FreshIds(ctx.runTag, ctx.worker);
      return Promise.resolve({
        op: async () => ok(await backend.execute({ op: 'CreateClient', cid: ids.next(0), data: CLIENT_DATA })),
        close: () => backend.close(),
      });
    },
  },
  {
    name: 'get',
    level: 'storage',
    description: 'linearizable read (ReadIndex at the leader) of records seeded by this worker, both partitions',
    async prepare(ctx) {
      const backend = storageBackend(ctx);
      const next = cycler(await seedStorageClients(backend, new FreshIds(ctx.runTag, ctx.worker)));
      return { op: async () => (await backend.read('client', next())) !== undefined, close: () => backend.close() };
    },
  },
  {
    name: 'get-stale',
    level: 'storage',
    description: 'local (possibly stale) read at any replica',
    unavailable: 'the storage API offers no stale local read yet: every read goes through ReadIndex (see "get"); the portal read cache (--cache-ms) is the nearest thing',
    prepare: () => Promise.reject(new Error('get-stale is not offered by the storage API')),
  },
  {
    name: 'mixed',
    level: 'storage',
    description: '50 % UpdateClient, 50 % linearizable read, on records seeded by this worker',
    async prepare(ctx) {
      const backend = storageBackend(ctx);
      const next = cycler(await seedStorageClients(backend, new FreshIds(ctx.runTag, ctx.worker)));
      let n = 0;
      return {
        op: async () => {
          const cid = next();
          if (n++ % 2 === 0) return (await backend.read('client', cid)) !== undefined;
          return ok(await backend.execute({ op: 'UpdateClient', cid, data: `{"name": "bench ${n}"}` }));
        },
        close: () => backend.close(),
      };
    },
  },
];

/** Records a portal workload starts from: clients, two products, orders (two per client). */
interface ShopSeed {
  readonly ids: FreshIds;
  readonly cids: string[];
  readonly pids: [string, string];
  readonly orders: Array<{ oid: string; cid: string }>;
  /** Every portal of the system, one measured client each (ctx.grpcClient); the operations take them in turn. */
  readonly clients: readonly PortalCalls[];
  readonly portal: () => PortalCalls;
  /** Closes the measured clients. */
  close(): void;
}

async function seedShop(ctx: WorkloadContext, withOrders: boolean): Promise<ShopSeed> {
  const target = ctx.target;
  if (target.kind !== 'portal') throw new Error(`this workload needs a portal, not ${target.kind}`);
  const ports = target.ports ?? [target.port];
  // grpc-js waits for a portal to be ready; the lean client is made once every portal is.
  const seeding = ports.map((port) => new PortalClient({ host: target.host, port, timeout_ms: ctx.timeout_ms }));
  for (const c of seeding) await c.waitForReady(30_000);
  const clients: PortalCalls[] = ctx.grpcClient === 'lean' ? seeding.map((c) => new LeanPortalClient(c.options)) : seeding;
  // Seeding goes through one portal; each worker starts its turns at another, so the load spreads evenly.
  const client = defined(seeding[0], 'the first portal\'s client');
  const portal = cycler(clients.map((_, i) => defined(clients[(i + ctx.worker) % clients.length], 'a portal client')));
  const ids = new FreshIds(ctx.runTag, ctx.worker);
  const cids = Array.from({ length: SEEDED / 4 }, () => ids.next());
  for (const cid of cids) await must(`CreateClient ${cid}`, client.createClient(cid, CLIENT_DATA));
  // One product on each partition, so an order touches both (a cross-partition transaction in raft mode).
  const pids: [string, string] = [ids.next(0), ids.next(1)];
  for (const pid of pids) await must(`CreateProduct ${pid}`, client.createProduct(pid, PRODUCT_DATA));
  const orders: Array<{ oid: string; cid: string }> = [];
  if (withOrders) {
    for (const cid of cids) {
      for (let k = 0; k < 2; k++) {
        const oid = ids.next();
        await must(`CreateOrder ${oid}`, client.createOrder(oid, cid, orderData(pids, 1)));
        orders.push({ oid, cid });
      }
    }
  }
  // Idle grpc-js channels would keep their timers running in the worker through the measured window.
  if (clients !== seeding) seeding.forEach((c) => c.close());
  return { ids, cids, pids, orders, clients, portal, close: () => clients.forEach((c) => c.close()) };
}

function orderData(pids: readonly string[], quantity: number): string {
  return JSON.stringify(pids.map((id) => ({ id, quantity })));
}

function portalWorkload(name: string, description: string, withOrders: boolean, build: (seed: ShopSeed) => () => Promise<boolean>): Workload {
  return {
    name,
    level: 'portal',
    description,
    async prepare(ctx) {
      const seed = await seedShop(ctx, withOrders);
      return { op: build(seed), close: () => Promise.resolve(seed.close()) };
    },
  };
}

const found = (reply: { CID?: string; PID?: string; OID?: string }) => (reply.CID ?? reply.PID ?? reply.OID ?? '0') !== '0' && (reply.CID ?? reply.PID ?? reply.OID) !== '';

type Op = (seed: ShopSeed) => () => Promise<boolean>;
const createClient: Op = (s) => async () => ok(await s.portal().createClient(s.ids.next(), CLIENT_DATA));
const createProduct: Op = (s) => async () => ok(await s.portal().createProduct(s.ids.next(), PRODUCT_DATA));
const createOrder: Op = (s) => {
  const cid = cycler(s.cids);
  return async () => ok(await s.portal().createOrder(s.ids.next(), cid(), orderData(s.pids, 1)));
};
const updateOrder: Op = (s) => {
  const order = cycler(s.orders);
  let n = 0;
  return async () => {
    const { oid, cid } = order();
    return ok(await s.portal().updateOrder(oid, cid, orderData(s.pids, 1 + (n++ % 2))));
  };
};
const retrieve: Op = (s) => {
  const cid = cycler(s.cids);
  const pid = cycler(s.pids);
  const order = cycler(s.orders);
  let n = 0;
  return async () => {
    switch (n++ % 3) {
      case 0:
        return found(await s.portal().retrieveClient(cid()));
      case 1:
        return found(await s.portal().retrieveProduct(pid()));
      default:
        return found(await s.portal().retrieveOrder(order().oid));
    }
  };
};
const retrieveClientOrders: Op = (s) => {
  const cid = cycler(s.cids);
  return async () => (await s.portal().retrieveClientOrders(cid())).length >= 2;
};

/** What the visibility probe itself spends, printed by each worker at its end: the probe is part of the load it measures. */
class ProbeStats {
  readonly write = new Histogram();
  readonly reads = new Histogram();
  ops = 0;
  readCalls = 0;
  missed = 0;
  private readonly health = new ProcessHealth();

  describe(worker: number): string {
    const [w, r] = [this.write.summary(), this.reads.summary()];
    const f = (v: number) => v.toFixed(2);
    return (
      `visibility probe, worker ${worker} (warm-up included): ${this.ops} writes; the write's reply p50 ${f(w.p50_ms)} / p99 ${f(w.p99_ms)} ms, ` +
      `then reads until every other portal showed it p50 ${f(r.p50_ms)} / p99 ${f(r.p99_ms)} ms; ` +
      `${f((this.readCalls + this.missed) / Math.max(1, this.ops))} reads per write, ${this.missed} of them found nothing yet; ` +
      this.health.finish(this.ops)
    );
  }
}

/**
 * A write through one portal, then reads through every other portal until each shows it: the
 * operation's latency is how long a write takes to be visible everywhere (an upper bound: the
 * time the read that found it returned). The reads to the other portals go out together, and
 * each repeats without pause until it finds the write. The calls go through the measured client
 * (the lean one unless --grpc-client says otherwise): the probe's own CPU competes with the system it measures.
 */
function visibilityProbe(s: ShopSeed, stats: ProbeStats): () => Promise<boolean> {
  if (s.clients.length < 2) throw new Error('visibility needs two portals or more: --portals 3 (mqtt mode)');
  const routes = new Map(s.clients.map((c) => [c, { origin: c, others: s.clients.filter((o) => o !== c) }]));
  return async () => {
    const { origin, others } = defined(routes.get(s.portal()), 'the chosen portal\'s clients');
    const cid = s.ids.next();
    const started = performance.now();
    ok(await origin.createClient(cid, CLIENT_DATA));
    const written = performance.now();
    await Promise.all(
      others.map(async (other) => {
        for (let reads = 1; (await other.retrieveClient(cid)).CID !== cid; reads++) {
          stats.missed++;
          if (reads >= MAX_VISIBILITY_READS) throw new Error(`client ${cid} still not visible on another portal after ${reads} reads`);
          await new Promise((resolve) => setImmediate(resolve));
        }
      }),
    );
    stats.ops++;
    stats.readCalls += others.length;
    stats.write.record_ms(written - started);
    stats.reads.record_ms(performance.now() - written);
    return true;
  };
}

const visibilityWorkload: Workload = {
  name: 'visibility',
  level: 'portal',
  description: 'CreateClient through one portal, then reads through every other until all show it (needs --portals 2 or more)',
  // The probe is the measuring instrument: a second process doubles its fixed cost and adds one
  // more process to wake on every write, which showed as +1.1-1.3 ms at the median at 250
  // writes/s on two cores (docs/bench.md). One process keeps up with 1,000 writes/s.
  workers: 1,
  async prepare(ctx) {
    const seed = await seedShop(ctx, false);
    const stats = new ProbeStats();
    const op = visibilityProbe(seed, stats);
    return {
      op,
      close: () => {
        // A line that is not a worker message: the bench prints it as it is.
        if (stats.ops > 0) process.stdout.write(`${stats.describe(ctx.worker)}\n`);
        seed.close();
        return Promise.resolve();
      },
    };
  },
};

/**
 * A shop's day, by weight: mostly browsing, some orders, a few new customers. New orders go to
 * the customers this run signed up (the newest SHOP_RECENT_CUSTOMERS of them, about five orders
 * each), while browsing and RetrieveClientOrders read the seeded ones (two orders each): so every
 * operation costs the same at the end of a run as at its start. Ordering for the seeded clients
 * instead let their order lists grow all run long (hundreds of orders each after 10 s), and the
 * figures depended on --duration.
 */
const SHOP_RECENT_CUSTOMERS = 64;
/** CreateClient that adds the new client to `recent`, the newest last, at most SHOP_RECENT_CUSTOMERS. */
const signUp = (s: ShopSeed, recent: string[]) => async () => {
  const cid = s.ids.next();
  const done = ok(await s.portal().createClient(cid, CLIENT_DATA));
  recent.push(cid);
  if (recent.length > SHOP_RECENT_CUSTOMERS) recent.shift();
  return done;
};
/** CreateOrder for one of the `recent` clients in turn (a seeded one until the first sign-up has landed: a handful of orders). */
const orderForRecent = (s: ShopSeed, recent: readonly string[]) => {
  const seeded = cycler(s.cids);
  let n = 0;
  return async () => {
    const cid = recent.length > 0 ? defined(recent[n++ % recent.length], 'a recent customer') : seeded();
    return ok(await s.portal().createOrder(s.ids.next(), cid, orderData(s.pids, 1)));
  };
};
const shop: Op = (s) => {
  const recent: string[] = [];
  const mix: Array<[number, () => () => Promise<boolean>]> = [
    [40, () => retrieve(s)],
    [10, () => retrieveClientOrders(s)],
    [25, () => orderForRecent(s, recent)],
    [15, () => updateOrder(s)],
    [5, () => signUp(s, recent)],
    [5, () => createProduct(s)],
  ];
  // A fixed sequence of 100 slots in proportion to the weights, shuffled by a stride coprime with 100.
  const slots = mix.flatMap(([weight, op]) => Array.from({ length: weight }, op));
  let n = 0;
  return () => slots[(n++ * 37) % slots.length]!();
};

const portalWorkloads: Workload[] = [
  portalWorkload('create-client', 'CreateClient with a fresh ID', false, createClient),
  portalWorkload('create-product', 'CreateProduct with a fresh ID', false, createProduct),
  portalWorkload('create-order', 'CreateOrder with a fresh ID, two products on different partitions (in raft mode a cross-partition transaction)', false, createOrder),
  portalWorkload('update-order', 'UpdateOrder of orders seeded by this worker, quantities alternating', true, updateOrder),
  portalWorkload('retrieve', 'RetrieveClient, RetrieveProduct, RetrieveOrder in turn, of seeded records', true, retrieve),
  portalWorkload('retrieve-client-orders', 'RetrieveClientOrders (a server stream) of seeded clients with two orders each', true, retrieveClientOrders),
  visibilityWorkload,
  portalWorkload('shop', 'a realistic mix: 40 % retrieve, 10 % retrieve-client-orders, 25 % create-order (for the newest clients), 15 % update-order, 5 % create-client, 5 % create-product', true, shop),
];

const etcdWorkloads: Workload[] = [
  {
    name: 'etcd-put',
    level: 'etcd',
    description: 'etcd put of a fresh key (etcd fsyncs its WAL before acknowledging), through the lean gRPC client or etcd3 (--grpc-client grpc-js)',
    prepare(ctx) {
      if (ctx.target.kind !== 'etcd') throw new Error(`etcd-put needs an etcd target, not ${ctx.target.kind}`);
      const ids = new FreshIds(ctx.runTag, ctx.worker);
      if (ctx.grpcClient === 'lean') {
        const puts = new LeanEtcdPuts(ctx.target.endpoints, ctx.timeout_ms);
        return Promise.resolve({
          op: async () => {
            await puts.put(`bench/${ids.next()}`, CLIENT_DATA);
            return true;
          },
          close: () => Promise.resolve(puts.close()),
        });
      }
      const client = new Etcd3({ hosts: [...ctx.target.endpoints], dialTimeout: ctx.timeout_ms });
      return Promise.resolve({
        op: async () => {
          await client.put(`bench/${ids.next()}`).value(CLIENT_DATA);
          return true;
        },
        close: () => Promise.resolve(client.close()),
      });
    },
  },
];

export const WORKLOADS: readonly Workload[] = [...storageWorkloads, ...portalWorkloads, ...etcdWorkloads, visibilityFloorWorkload];

export function findWorkload(name: string): Workload {
  const workload = WORKLOADS.find((w) => w.name === name);
  if (workload === undefined) throw new Error(`no workload "${name}"; choose one of: ${WORKLOADS.map((w) => w.name).join(', ')}`);
  return workload;
}
