import { PortalClient } from '../client/portal-client.js';
import type { Command } from '../domain/commands.js';
import type { ClientRecord, OrderRecord, ProductRecord } from '../domain/records.js';
import { Prng } from '../util/random.js';
import type { Backend } from '../domain/backend.js';
import { clientOrderPages } from '../domain/client-orders.js';
import { outcomeOfReply, type OpRecord, type Outcome, type Recorder, type Violation } from './history.js';
import { defined } from '../util/assert.js';

/**
 * The shop workload through the gRPC portals: clients create, update and delete orders on a few
 * products (on both partitions, so most orders are cross-partition transactions), read stock,
 * and create and delete clients of their own. Each order and each extra client belongs to one
 * workload client, which knows what state it should be in as long as every call on it had a
 * known outcome; after an unknown outcome (503, timeout, portal gone) it is left alone.
 */
export const PRODUCTS: ReadonlyArray<{ pid: string; units: number }> = [
  { pid: '11', units: 100_000 },
  { pid: '12', units: 100_000 },
  { pid: '13', units: 100_000 },
  // Scarce: orders race for its last units, so overselling would show.
  { pid: '14', units: 60 },
];
export const BASE_CLIENTS = ['21', '22', '23', '24', '25', '26'];

type Expected = { readonly state: 'present'; readonly items: ReadonlyMap<string, number> } | { readonly state: 'absent' } | { readonly state: 'uncertain' };

export interface ShopModel {
  /** What each order the workload touched should be at the end. */
  readonly orders: Map<string, Expected>;
  /** Extra clients: present / absent / uncertain. */
  readonly clients: Map<string, Expected['state']>;
  /** Stock values seen by reads during the run. */
  readonly stockSeen: Array<{ pid: string; quantity: number; at_ms: number }>;
}

export function newShopModel(): ShopModel {
  return { orders: new Map(), clients: new Map(), stockSeen: [] };
}

/** Creates the products and base clients through `execute`, retrying: it runs before any fault. */
export async function setupShop(execute: (command: Command) => Promise<{ readonly code: number }>): Promise<void> {
  const must = async (what: string, command: Command) => {
    for (let attempt = 0; ; attempt++) {
      const reply = await execute(command);
      if (reply.code === 0) return;
      // A retried create that had in fact been applied answers "exists": fine.
      if (reply.code === 400 && attempt > 0) return;
      if (reply.code !== 503 || attempt > 20) throw new Error(`shop setup: ${what} answered ${JSON.stringify(reply)}`);
    }
  };
  for (const p of PRODUCTS) await must(`product ${p.pid}`, { op: 'CreateProduct', pid: p.pid, data: JSON.stringify({ name: `p${p.pid}`, price: '1.5', quantity: p.units }) });
  for (const cid of BASE_CLIENTS) await must(`client ${cid}`, { op: 'CreateClient', cid, data: '{"name": "base"}' });
}

export interface ShopOptions {
  readonly portalPorts: readonly number[];
  readonly clients: number;
  readonly seed: number;
  readonly recorder: Recorder;
  readonly model: ShopModel;
  readonly running: () => boolean;
}


export async function runShop(options: ShopOptions): Promise<void> {
  const rng = new Prng(options.seed ^ 0x540b);
  const portals = options.portalPorts.map((port) => new PortalClient({ host: '127.0.0.1', port, timeout_ms: 8_000 }));
  try {
    await Promise.all(Array.from({ length: options.clients }, (_, client) => new ShopClient(client, rng.fork(), portals[client % portals.length]!, options).run()));
  } finally {
    portals.forEach((p) => p.close());
  }
}

/** One workload client: its own orders and extra clients, and what each should be. */
class ShopClient {
  private readonly live: string[] = [];
  private readonly myClients: string[] = [];
  /** UpdateOrder must name the order's client: remembered from its creation. */
  private readonly ownerOf = new Map<string, string>();
  private readonly recorder: Recorder;
  private readonly model: ShopModel;

  constructor(
    private readonly client: number,
    private readonly mine: Prng,
    private readonly portal: PortalClient,
    private readonly options: ShopOptions,
  ) {
    this.recorder = options.recorder;
    this.model = options.model;
  }

  async run(): Promise<void> {
    const { mine } = this;
    for (let n = 0; this.options.running() && !this.recorder.full; n++) {
      const roll = mine.int(100);
      if (roll < 40 || this.live.length === 0) await this.createOrder(n);
      else if (roll < 65) await this.updateOrder();
      else if (roll < 80) await this.deleteOrder();
      else if (roll < 90) await this.readStock();
      else if (roll < 95 || this.myClients.length === 0) await this.createClient(n);
      else await this.deleteClient();
    }
  }

  private async call(op: string, keys: string[], input: unknown, run: () => Promise<{ error: number; description?: string }>): Promise<Outcome> {
    const rec = this.recorder.begin('shop', this.client, op, keys, input);
    try {
      const reply = await run();
      this.recorder.end(rec, outcomeOfReply(reply), reply);
      // The store is unavailable: like a real client, back off instead of piling up more unknown outcomes.
      if (reply.error === 503) await new Promise((r) => setTimeout(r, 200));
    } catch (err) {
      this.recorder.end(rec, 'unknown', { error: (err as Error).message });
      // The portal is down or stuck: do not spin on it.
      await new Promise((r) => setTimeout(r, 200));
    }
    return defined(rec.outcome, 'the outcome the recorder was just given');
  }

  private async createOrder(n: number): Promise<void> {
    const { mine } = this;
    // IDs unique per workload client and call, however long the run: `o<client>-<n>`.
    const oid = `o${this.client}-${n}`;
    const cid = this.myClients.length > 0 && mine.chance(0.2) ? mine.pick(this.myClients) : mine.pick(BASE_CLIENTS);
    const lines = PRODUCTS.filter(() => mine.chance(0.5)).map((p) => ({ id: p.pid, quantity: 1 + mine.int(3) }));
    const outcome = await this.call('CreateOrder', [`order/${oid}`, `client/${cid}`, ...lines.map((l) => `product/${l.id}`)], { oid, cid, lines }, () =>
      this.portal.createOrder(oid, cid, JSON.stringify(lines)),
    );
    if (outcome === 'ok') {
      this.model.orders.set(oid, { state: 'present', items: new Map(lines.map((l) => [l.id, l.quantity])) });
      this.live.push(oid);
      this.ownerOf.set(oid, cid);
    } else this.model.orders.set(oid, outcome === 'fail' ? { state: 'absent' } : { state: 'uncertain' });
  }

  private async updateOrder(): Promise<void> {
    const { mine } = this;
    const oid = mine.pick(this.live);
    const before = this.model.orders.get(oid) as Expected & { state: 'present' };
    const record = defined(this.ownerOf.get(oid), `owner of live order ${oid}`);
    const lines = [{ id: mine.pick(PRODUCTS).pid, quantity: mine.int(4) }];
    const outcome = await this.call('UpdateOrder', [`order/${oid}`, ...lines.map((l) => `product/${l.id}`)], { oid, cid: record, lines }, () =>
      this.portal.updateOrder(oid, record, JSON.stringify(lines)),
    );
    if (outcome === 'ok') {
      const items = new Map(before.items);
      for (const l of lines) {
        if (l.quantity === 0) items.delete(l.id);
        else items.set(l.id, l.quantity);
      }
      this.model.orders.set(oid, { state: 'present', items });
    } else if (outcome === 'unknown') this.retire(oid);
  }

  private async deleteOrder(): Promise<void> {
    const oid = this.mine.pick(this.live);
    const outcome = await this.call('DeleteOrder', [`order/${oid}`], { oid }, () => this.portal.deleteOrder(oid));
    if (outcome === 'ok') {
      this.model.orders.set(oid, { state: 'absent' });
      this.live.splice(this.live.indexOf(oid), 1);
    } else if (outcome === 'unknown') this.retire(oid);
  }

  private async readStock(): Promise<void> {
    const pid = this.mine.pick(PRODUCTS).pid;
    const rec = this.recorder.begin('shop', this.client, 'RetrieveProduct', [`product/${pid}`], { pid });
    try {
      const product = await this.portal.retrieveProduct(pid);
      const quantity = Number((JSON.parse(product.data || '{}') as { quantidade?: string }).quantidade);
      if (Number.isFinite(quantity)) this.model.stockSeen.push({ pid, quantity, at_ms: rec.call_ms });
      this.recorder.end(rec, 'ok', product);
    } catch (err) {
      this.recorder.end(rec, 'fail', { error: (err as Error).message });
    }
  }

  private async createClient(n: number): Promise<void> {
    const cid = `x${this.client}-${n}`;
    const outcome = await this.call('CreateClient', [`client/${cid}`], { cid }, () => this.portal.createClient(cid, '{"name": "extra"}'));
    this.model.clients.set(cid, outcome === 'ok' ? 'present' : outcome === 'fail' ? 'absent' : 'uncertain');
    if (outcome === 'ok') this.myClients.push(cid);
  }

  private async deleteClient(): Promise<void> {
    const cid = this.mine.pick(this.myClients);
    const outcome = await this.call('DeleteClient', [`client/${cid}`], { cid }, () => this.portal.deleteClient(cid));
    if (outcome === 'ok') this.model.clients.set(cid, 'absent');
    if (outcome !== 'fail') this.myClients.splice(this.myClients.indexOf(cid), 1);
    if (outcome === 'unknown') this.model.clients.set(cid, 'uncertain');
  }

  /** An unknown outcome: the order is left alone from now on. */
  private retire(oid: string): void {
    this.model.orders.set(oid, { state: 'uncertain' });
    this.live.splice(this.live.indexOf(oid), 1);
  }
}

/** Where the final state is read: the storage tier, or a snapshot of a portal's state. */
export type RecordReader = Pick<Backend, 'read' | 'clientOrders'>;

/** The order IDs each client lists (its legacy list and its order index), read once per client. */
function orderListings(backend: RecordReader): (cid: string, client: ClientRecord | undefined) => Promise<Set<string>> {
  const listings = new Map<string, Set<string>>();
  return async (cid, client) => {
    const known = listings.get(cid);
    if (known !== undefined) return known;
    const listed = new Set<string>();
    if (client !== undefined) for await (const page of clientOrderPages(backend, cid, client)) for (const { oid } of page) listed.add(oid);
    listings.set(cid, listed);
    return listed;
  };
}

/**
 * A mode's final shop check: checks the state `backend` reads against the shop's history and
 * reports it into the run's counts, findings and progress, as every mode's `check` does.
 */
export async function checkFinalShop(
  backend: RecordReader,
  model: ShopModel,
  recorder: Recorder,
  report: { checked: Record<string, number>; violations: Violation[]; say: (line: string) => void },
  whatConsistentMeans = '',
): Promise<void> {
  const shop = await checkShop(backend, model, recorder.ops);
  report.checked.shop = shop.checked;
  report.violations.push(...shop.violations);
  report.say(`chaos: shop: ${shop.checked} operations, final state ${shop.violations.length === 0 ? `consistent${whatConsistentMeans}` : 'INCONSISTENT'}`);
}

/** Reads the final state and checks conservation, stock ≥ 0, references and acknowledged writes. */
export async function checkShop(backend: RecordReader, model: ShopModel, ops: readonly OpRecord[]): Promise<{ checked: number; violations: Violation[] }> {
  const violations: Violation[] = [];
  const add = (checker: string, message: string, keys: string[]) => violations.push({ checker, message, keys });
  const orders = new Map<string, OrderRecord>();
  const oids = [...model.orders.keys()];
  for (let i = 0; i < oids.length; i += 100) {
    const batch = oids.slice(i, i + 100);
    const found = await Promise.all(batch.map((oid) => backend.read('order', oid)));
    found.forEach((o, j) => o !== undefined && orders.set(batch[j]!, o));
  }
  for (const [oid, expected] of model.orders) {
    const order = orders.get(oid);
    if (expected.state === 'present') {
      if (order === undefined) add('acknowledged-writes', `order ${oid} was acknowledged but is missing`, [`order/${oid}`]);
      else {
        const got = new Map<string, number>();
        for (const item of order.items) got.set(item.pid, (got.get(item.pid) ?? 0) + item.quantity);
        const same = got.size === expected.items.size && [...expected.items].every(([pid, q]) => got.get(pid) === q);
        if (!same) add('acknowledged-writes', `order ${oid} holds ${JSON.stringify([...got])}, the acknowledged writes left ${JSON.stringify([...expected.items])}`, [`order/${oid}`]);
      }
    } else if (expected.state === 'absent' && order !== undefined) {
      add('acknowledged-writes', `order ${oid} exists but was deleted or refused with an acknowledgement`, [`order/${oid}`]);
    }
  }
  const products = new Map<string, ProductRecord | undefined>();
  for (const p of PRODUCTS) products.set(p.pid, await backend.read('product', p.pid));
  for (const p of PRODUCTS) {
    const product = products.get(p.pid);
    if (product === undefined) {
      add('acknowledged-writes', `product ${p.pid} is missing`, [`product/${p.pid}`]);
      continue;
    }
    let inOrders = 0;
    let refs = 0;
    for (const order of orders.values()) {
      const units = order.items.filter((i) => i.pid === p.pid).reduce((s, i) => s + i.quantity, 0);
      inOrders += units;
      if (order.items.some((i) => i.pid === p.pid)) refs++;
    }
    if (product.quantity < 0) add('no-negative-stock', `product ${p.pid} has stock ${product.quantity}`, [`product/${p.pid}`]);
    if (product.quantity + inOrders !== p.units) {
      add('conservation', `product ${p.pid}: stock ${product.quantity} + ${inOrders} units in orders = ${product.quantity + inOrders}, created ${p.units}`, [`product/${p.pid}`]);
    }
    if (product.orderRefs !== refs) add('references', `product ${p.pid} counts ${product.orderRefs} orders containing it; ${refs} exist`, [`product/${p.pid}`]);
  }
  for (const s of model.stockSeen) if (s.quantity < 0) add('no-negative-stock', `product ${s.pid} was read with stock ${s.quantity} at ${Math.round(s.at_ms)} ms`, [`product/${s.pid}`]);
  const clientCache = new Map<string, ClientRecord | undefined>();
  const listedBy = orderListings(backend);
  const clientOf = async (cid: string) => {
    if (!clientCache.has(cid)) clientCache.set(cid, await backend.read('client', cid));
    return clientCache.get(cid);
  };

  for (const [oid, order] of orders) {
    const owner = await clientOf(order.cid);
    if (owner === undefined) add('references', `order ${oid} belongs to client ${order.cid}, which does not exist`, [`order/${oid}`, `client/${order.cid}`]);
    else if (!(await listedBy(order.cid, owner)).has(oid)) add('references', `order ${oid} is missing from client ${order.cid}'s order list`, [`order/${oid}`, `client/${order.cid}`]);
    for (const item of order.items) if (!products.has(item.pid) || products.get(item.pid) === undefined) add('references', `order ${oid} holds product ${item.pid}, which does not exist`, [`order/${oid}`]);
  }
  for (const cid of [...BASE_CLIENTS, ...model.clients.keys()]) {
    const expected = model.clients.get(cid) ?? 'present';
    const client = await clientOf(cid);
    if (expected === 'present' && client === undefined) add('acknowledged-writes', `client ${cid} was acknowledged but is missing`, [`client/${cid}`]);
    if (expected === 'absent' && client !== undefined) add('acknowledged-writes', `client ${cid} exists but its deletion was acknowledged`, [`client/${cid}`]);
    for (const oid of await listedBy(cid, client)) if (!orders.has(oid)) add('references', `client ${cid} lists order ${oid}, which does not exist`, [`client/${cid}`, `order/${oid}`]);
  }
  return { checked: ops.filter((o) => o.workload === 'shop').length, violations };
}
