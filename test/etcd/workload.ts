import { expect } from 'vitest';
import type { PortalClient } from '../../src/client/portal-client.js';
import type { EtcdBackend } from '../../src/modes/etcd/backend.js';
import { clientOrderPages } from '../../src/domain/client-orders.js';
import { orderCountOf } from '../../src/domain/records.js';

/**
 * A seeded order race for the last units of a few products, through several portals at once,
 * and the checks that must hold afterwards whatever the interleaving: nothing oversold, every
 * unit either in stock or in exactly one existing order, every acknowledged write present,
 * every write answered "nothing changed" absent.
 */

import { rng } from '../../src/util/random.js';

export { rng };

export interface RaceSetup {
  readonly portals: readonly PortalClient[];
  readonly clients: readonly string[];
  /** Product ID → initial stock. */
  readonly stock: ReadonlyMap<string, number>;
  readonly operations: number;
  readonly concurrency: number;
  readonly seed: number;
  /** IDs of orders made by this run start with this, so runs on one cluster never collide. */
  readonly oidPrefix: string;
  /** Called after each acknowledged write, with how many there have been. */
  readonly onAcknowledged?: (count: number) => void;
}

export type Fate = 'exists' | 'absent' | 'unknown';

export interface RaceResult {
  /** What each order must be after the run: created and not deleted, certainly absent, or either. */
  readonly fate: Map<string, Fate>;
  /** Items of every order created with an acknowledgement. */
  readonly items: Map<string, { cid: string; lines: Map<string, number> }>;
  readonly codes: Map<string, number>;
}

export async function raceOrders(setup: RaceSetup): Promise<RaceResult> {
  const random = rng(setup.seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const pids = [...setup.stock.keys()];
  const fate = new Map<string, Fate>();
  const items = new Map<string, { cid: string; lines: Map<string, number> }>();
  const codes = new Map<string, number>();
  let acknowledged = 0;
  let next = 0;
  // The plan is drawn up front from the seed so that replaying a seed replays the same requests.
  const plan = Array.from({ length: setup.operations }, (_, i) => {
    const lines = new Map<string, number>();
    const count = 1 + Math.floor(random() * 3);
    for (let j = 0; j < count; j++) {
      const pid = pick(pids);
      lines.set(pid, (lines.get(pid) ?? 0) + 1 + Math.floor(random() * 3));
    }
    return { oid: `${setup.oidPrefix}${i}`, cid: pick(setup.clients), lines, portal: pick(setup.portals), deleteLater: random() < 0.25 };
  });

  const count = (key: string) => codes.set(key, (codes.get(key) ?? 0) + 1);
  const worker = async () => {
    for (;;) {
      const step = plan[next++];
      if (step === undefined) return;
      const data = JSON.stringify([...step.lines].map(([id, quantity]) => ({ id, quantity: String(quantity) })));
      const reply = await step.portal.createOrder(step.oid, step.cid, data);
      count(`create ${reply.error}`);
      fate.set(step.oid, outcome(reply));
      if (reply.error === 0) {
        items.set(step.oid, { cid: step.cid, lines: step.lines });
        setup.onAcknowledged?.(++acknowledged);
        if (step.deleteLater) {
          const deleted = await pick(setup.portals).deleteOrder(step.oid);
          count(`delete ${deleted.error}`);
          if (deleted.error === 0) setup.onAcknowledged?.(++acknowledged);
          const after = outcome(deleted);
          fate.set(step.oid, after === 'exists' ? 'absent' : after === 'absent' ? 'exists' : 'unknown');
        }
      }
    }
  };
  await Promise.all(Array.from({ length: setup.concurrency }, worker));
  return { fate, items, codes };
}

/** What a reply says about the write: applied, certainly not applied, or maybe. */
function outcome(reply: { error?: number; description?: string }): Fate {
  if (reply.error === 0) return 'exists';
  if (reply.error === 503 && /pode ter sido aplicada|may have been applied/.test(reply.description ?? '')) return 'unknown';
  if (reply.error === 400 || reply.error === 404 || reply.error === 503) return 'absent';
  throw new Error(`unexpected reply ${JSON.stringify(reply)}`);
}

/** Reads everything back from etcd and checks the invariants; returns the number of orders that exist. */
export async function checkAfterRace(backend: EtcdBackend, setup: Pick<RaceSetup, 'stock' | 'clients'>, result: RaceResult): Promise<number> {
  const existing = new Map<string, { cid: string; lines: Map<string, number> }>();
  for (const [oid, fate] of result.fate) {
    const order = await backend.read('order', oid);
    if (fate === 'exists') expect(order, `acknowledged order ${oid} must exist`).toBeDefined();
    if (fate === 'absent') expect(order, `order ${oid} was answered "not applied" or rejected, or its deletion acknowledged`).toBeUndefined();
    if (order === undefined) continue;
    const lines = new Map(order.items.map((item) => [item.pid, item.quantity]));
    const sent = result.items.get(oid);
    if (sent !== undefined) expect(lines).toEqual(sent.lines);
    existing.set(oid, { cid: order.cid, lines });
  }
  for (const [pid, initial] of setup.stock) {
    const product = await backend.read('product', pid);
    expect(product, `product ${pid}`).toBeDefined();
    let ordered = 0;
    let refs = 0;
    for (const order of existing.values()) {
      const quantity = order.lines.get(pid);
      if (quantity !== undefined) {
        ordered += quantity;
        refs++;
      }
    }
    expect(product!.quantity, `stock of ${pid} never negative`).toBeGreaterThanOrEqual(0);
    expect(product!.quantity + ordered, `units of ${pid} conserved`).toBe(initial);
    expect(product!.orderRefs, `orders holding ${pid}`).toBe(refs);
  }
  for (const cid of setup.clients) {
    const client = await backend.read('client', cid);
    const mine = [...existing].filter(([, o]) => o.cid === cid).map(([oid]) => oid);
    const listed: string[] = [];
    if (client !== undefined) for await (const page of clientOrderPages(backend, cid, client)) listed.push(...page.map((e) => e.oid));
    expect(listed.sort(), `orders listed by client ${cid}`).toEqual(mine.sort());
    expect(client === undefined ? 0 : orderCountOf(client), `orders counted by client ${cid}`).toBe(mine.length);
  }
  return existing.size;
}
