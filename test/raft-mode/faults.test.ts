import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PrintedLines } from '../../src/util/printed-lines.js';
import { PortalClient } from '../../src/client/portal-client.js';
import type { Reply } from '../../src/domain/commands.js';
import type { ReplicaStatus } from '../../src/storage/common/protocol.js';
import { CHUNK_BYTES } from '../../src/storage/replica/message-chunks.js';
import { spawnEcom, waitForPort, type EcomChild } from '../../src/util/processes.js';
import { freePort } from '../helpers/ports.js';
import { testSeed } from '../helpers/seed.js';
import { clusterStatuses, startRaftCluster, type RaftCluster } from './cluster.js';
import { expectAllPresent } from './write-stream.js';

/**
 * Faults against real processes: kill -9 of leaders, of everything at once, a replica that
 * misses thousands of writes, a portal that dies mid-transaction, and racing portals.
 */
let cluster: RaftCluster | undefined;
const children: EcomChild[] = [];
/** How long a line a replica prints may take through its pipe. */
const LINE_WAIT_MS = 10_000;
afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => c.stop()));
  await cluster?.stop();
  cluster = undefined;
});

/** Writers creating clients with fresh numeric IDs (both partitions) until told to stop. */
function writeStream(write: (cid: string) => Promise<Reply | { error: number }>, concurrency: number, startAt: number) {
  const acked: string[] = [];
  const unknown: string[] = [];
  let next = startAt;
  let running = true;
  const done = Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (running) {
        const cid = String(next++);
        const reply = await write(cid);
        const code = 'code' in reply ? reply.code : reply.error;
        if (code === 0) acked.push(cid);
        else if (code === 503) unknown.push(cid);
        else throw new Error(`write of ${cid} answered ${JSON.stringify(reply)}`);
      }
    }),
  );
  return {
    acked,
    unknown,
    stop: async () => {
      running = false;
      await done;
    },
    /** Resolves once `n` more writes have been acknowledged. */
    async progress(n: number, timeout_ms = 30_000) {
      const target = acked.length + n;
      const deadline = Date.now() + timeout_ms;
      while (acked.length < target) {
        if (Date.now() > deadline) throw new Error(`only ${acked.length} of ${target} writes acknowledged in time`);
        // Progress is measured by the writers' own acknowledgements; there is no event to await.
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}

describe('raft mode under faults', () => {
  it('keeps writing through kill -9 of the leader of each partition, losing no acknowledged write', async () => {
    cluster = await startRaftCluster();
    const backend = cluster.backend({ requestTimeout_ms: 10_000 });
    const stream = writeStream((cid) => backend.execute({ op: 'CreateClient', cid, data: '{"name": "w"}' }), 16, 1_000_000);
    await stream.progress(300);
    for (const partition of [0, 1]) {
      const leader = (await cluster.leaders()).find((l) => l.partition === partition)!;
      await cluster.tier.replicas.get(leader.id)!.kill();
      await stream.progress(300);
      cluster.tier.startReplica(leader.id);
    }
    await stream.stop();
    expect(stream.acked.length).toBeGreaterThan(900);
    await expectAllPresent(backend, stream.acked);
    const statuses = (await clusterStatuses(cluster.topology)) as ReplicaStatus[];
    expect(new Set(statuses.filter((s) => s.role === 'leader').map((s) => s.partition))).toEqual(new Set([0, 1]));
  });

  // docs/spec.md: R-CONS-8
  it('loses no acknowledged write when every process is killed at once and restarted', async () => {
    cluster = await startRaftCluster();
    const ports = [await freePort(), await freePort()];
    const startPortal = (port: number) => {
      const child = spawnEcom(['admin-server', String(port), '--mode', 'raft', '--storage-config', cluster!.tier.configFile], { name: `portal-${port}`, onLine: null });
      children.push(child);
      return child;
    };
    const portals = ports.map(startPortal);
    await Promise.all(ports.map((port, i) => waitForPort('127.0.0.1', port, 30_000, portals[i]!)));
    const clients = ports.map((port) => new PortalClient({ host: '127.0.0.1', port, timeout_ms: 10_000 }));
    let turn = 0;
    const stream = writeStream(
      (cid) => clients[turn++ % 2]!.createClient(cid, '{"name": "w"}').catch(() => ({ error: 503 })),
      16,
      2_000_000,
    );
    await stream.progress(500);
    // Everything at once: 6 replicas and both portals.
    await Promise.all([...portals, ...cluster.tier.replicas.values()].map((p) => p.kill()));
    await stream.stop();
    clients.forEach((c) => c.close());
    for (const replica of cluster.topology.replicas) cluster.tier.startReplica(replica.id);
    await cluster.leaders();
    expect(stream.acked.length).toBeGreaterThanOrEqual(500);
    await expectAllPresent(cluster.backend({ requestTimeout_ms: 10_000 }), stream.acked);
  });

  it('brings a replica that missed 5,000 writes back up to date through a snapshot', async () => {
    cluster = await startRaftCluster({ snapshotEvery_entries: 1_000 });
    const leader = (await cluster.leaders()).find((l) => l.partition === 0)!;
    const lagging = cluster.topology.replicas.find((r) => r.partition === 0 && r.id !== leader.id)!;
    await cluster.tier.replicas.get(lagging.id)!.kill();
    const backend = cluster.backend({ requestTimeout_ms: 10_000 });
    // Even IDs: all on partition 0. Names long enough that the store file is over one chunk.
    let next = 0;
    const data = JSON.stringify({ name: 'w'.repeat(200) });
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < 5_000) {
          const cid = String(3_000_000 + 2 * next++);
          expect(await backend.execute({ op: 'CreateClient', cid, data })).toEqual({ code: 0 });
        }
      }),
    );
    // Its lines come through a pipe that no status answer waits for: they are awaited as printed.
    const firstRun = new PrintedLines(cluster.tier.startReplica(lagging.id));
    const deadline = Date.now() + 60_000;
    for (;;) {
      const statuses = (await clusterStatuses(cluster.topology)).filter((s): s is ReplicaStatus => !('unreachable' in s) && s.partition === 0);
      const target = Math.max(...statuses.map((s) => s.commitIndex));
      const mine = statuses.find((s) => s.id === lagging.id);
      if (mine !== undefined && mine.appliedIndex >= target && target >= 5_000) break;
      if (Date.now() > deadline) throw new Error(`replica ${lagging.id} did not catch up: ${JSON.stringify(statuses)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await firstRun.first((line) => line.text.includes('state restored from a snapshot (store file installed)'), LINE_WAIT_MS)).toBeDefined();
    // Killed with -9 and started again, it resumes from the store it switched to, with no second copy.
    await cluster.tier.replicas.get(lagging.id)!.kill();
    firstRun.stop();
    const secondRun = new PrintedLines(cluster.tier.startReplica(lagging.id));
    const upBy = Date.now() + 30_000;
    while (!(await clusterStatuses(cluster.topology)).some((s) => s.id === lagging.id && !('unreachable' in s))) {
      if (Date.now() > upBy) throw new Error(`replica ${lagging.id} did not come back`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const recovered = await secondRun.first((line) => line.json?.msg === 'recovered from disk', LINE_WAIT_MS);
    secondRun.stop();
    expect(recovered?.json?.applied).toBeGreaterThanOrEqual(5_000);
    const staged = [...firstRun.lines, ...secondRun.lines].filter((line) => line.text.includes('store file from the leader written'));
    expect(staged).toHaveLength(1);
    // Over a chunk, the store file went to disk as it arrived, not held whole in memory first.
    const { bytes, written } = staged[0]!.json as { bytes: number; written: string };
    expect(bytes).toBeGreaterThan(CHUNK_BYTES);
    expect(written).toBe('as it arrived');
    // The caught-up replica now serves: stop the old leader and read everything through the others.
    await cluster.tier.replicas.get(leader.id)!.kill();
    const keys = Array.from({ length: 5_000 }, (_, i) => String(3_000_000 + 2 * i));
    await expectAllPresent(cluster.backend({ requestTimeout_ms: 10_000 }), keys);
  });

  /** Writes `keys` through the partition's leader, 100 at a time, every one acknowledged. */
  async function writeAll(keys: string[]): Promise<void> {
    const backend = cluster!.backend({ requestTimeout_ms: 10_000 });
    for (let i = 0; i < keys.length; i += 100) {
      const replies = await Promise.all(keys.slice(i, i + 100).map((cid) => backend.execute({ op: 'CreateClient', cid, data: '{"name": "w"}' })));
      expect(replies.every((r) => r.code === 0)).toBe(true);
    }
  }

  /** A follower of partition 0 once it has taken a snapshot of its own (they are taken in the background). */
  async function followerWithSnapshot(leader: number): Promise<ReplicaStatus> {
    const { topology } = cluster!;
    const victim = topology.replicas.find((r) => r.partition === 0 && r.id !== leader)!;
    for (const deadline = Date.now() + 30_000; ; ) {
      const mine = (await clusterStatuses(topology)).find((s): s is ReplicaStatus => s.id === victim.id && !('unreachable' in s));
      if (mine !== undefined && mine.snapshotIndex > 0) return mine;
      if (Date.now() > deadline) throw new Error(`replica ${victim.id} took no snapshot: ${JSON.stringify(mine)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** A cluster that took 1,200 writes from `firstKey` on, and a follower of partition 0 killed with -9 once it took a snapshot. */
  async function killFollowerAfterItsSnapshot(firstKey: number): Promise<{ started: NonNullable<typeof cluster>; keys: string[]; leader: { id: number }; victim: ReplicaStatus }> {
    const started = await startRaftCluster({ snapshotEvery_entries: 500 });
    cluster = started;
    const keys = Array.from({ length: 1_200 }, (_, i) => String(firstKey + 2 * i));
    await writeAll(keys);
    const leader = (await started.leaders()).find((l) => l.partition === 0)!;
    const victim = await followerWithSnapshot(leader.id);
    await started.tier.replicas.get(victim.id)!.kill();
    return { started, keys, leader, victim };
  }

  it('resumes a replica killed with -9 after its snapshot compacted the log, from its own store, losing no acknowledged write', async () => {
    const { started, keys, leader, victim } = await killFollowerAfterItsSnapshot(4_000_000);
    const printed = new PrintedLines(started.tier.startReplica(victim.id));
    const deadline = Date.now() + 60_000;
    for (;;) {
      const statuses = (await clusterStatuses(started.topology)).filter((s): s is ReplicaStatus => !('unreachable' in s) && s.partition === 0);
      const mine = statuses.find((s) => s.id === victim.id);
      if (mine !== undefined && mine.appliedIndex >= Math.max(...statuses.map((s) => s.commitIndex))) break;
      if (Date.now() > deadline) throw new Error(`replica ${victim.id} did not resume: ${JSON.stringify(statuses)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    // Its start-up lines, through to the one that ends recovery, are all read once that one is.
    expect(await printed.first((line) => line.json?.msg === 'recovered from disk', LINE_WAIT_MS)).toBeDefined();
    printed.stop();
    const log = printed.lines.map((line) => line.text).join('\n');
    // Same boot of the machine: the store is trusted as it is, nothing is rebuilt or copied.
    expect(log).not.toContain('rebuilding the state');
    expect(log).not.toContain('state restored from a snapshot');
    // Only the restarted replica and one other are left: every acknowledged write must be on the restarted one's store.
    await started.tier.replicas.get(leader.id)!.kill();
    await expectAllPresent(started.backend({ requestTimeout_ms: 10_000 }), keys);
  });

  it('stops a replica whose state store is damaged and is its only snapshot, saying how to re-seed it; the others serve every write', async () => {
    const { started, keys, victim } = await killFollowerAfterItsSnapshot(5_000_000);
    // A machine crash: the boot id the replica noted is no longer the machine's, and the file
    // written without fsync was left damaged.
    const dir = join(started.dataDir, `replica-${victim.id}`);
    writeFileSync(join(dir, 'state.boot'), 'a boot before the crash\n');
    writeFileSync(join(dir, 'state', 'data.mdb'), Buffer.alloc(8192, 0xab));
    const restarted = started.tier.startReplica(victim.id);
    const printed = new PrintedLines(restarted);
    const code = await restarted.exited;
    expect(code).not.toBe(0);
    // The exit can come before its last lines are through the pipe.
    expect(await printed.first((line) => line.text.includes('ecom member remove'), LINE_WAIT_MS), printed.lines.map((l) => l.text).join('\n')).toBeDefined();
    printed.stop();
    expect(printed.lines.some((line) => line.text.includes('is damaged'))).toBe(true);
    await expectAllPresent(started.backend({ requestTimeout_ms: 10_000 }), keys);
  });

  it('recovers from a portal killed in the middle of cross-partition orders: units conserved, nothing locked', async () => {
    const seed = testSeed('portal killed mid-transaction');
    let state = seed;
    const random = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32);
    cluster = await startRaftCluster();
    const setup = cluster.backend();
    const products = ['11', '12', '13', '14'];
    for (const pid of products) expect(await setup.execute({ op: 'CreateProduct', pid, data: '{"name": "p", "price": "1", "quantity": 1000}' })).toEqual({ code: 0 });
    const cids = ['21', '22', '23'];
    for (const cid of cids) expect(await setup.execute({ op: 'CreateClient', cid, data: '{"name": "c"}' })).toEqual({ code: 0 });

    const port = await freePort();
    const portal = spawnEcom(['order-server', String(port), '--mode', 'raft', '--storage-config', cluster.tier.configFile, '--lock-ttl', '500'], { name: 'doomed', onLine: null });
    children.push(portal);
    await waitForPort('127.0.0.1', port, 30_000, portal);
    const client = new PortalClient({ host: '127.0.0.1', port, timeout_ms: 10_000 });
    const oids: string[] = [];
    const acked = new Set<string>();
    let n = 0;
    const pending = Array.from({ length: 24 }, async () => {
      for (;;) {
        const oid = String(100_000 + 2 * n++);
        oids.push(oid);
        const lines = products.filter(() => random() < 0.5).map((pid) => ({ id: pid, quantity: 1 + Math.floor(random() * 3) }));
        const reply = await client.createOrder(oid, cids[n % 3]!, JSON.stringify(lines)).catch(() => undefined);
        if (reply === undefined) return;
        if (reply.error === 0) acked.add(oid);
      }
    });
    while (acked.size < 100) await new Promise((r) => setTimeout(r, 10));
    await portal.kill();
    await Promise.all(pending);
    client.close();

    // Another portal's recovery pass finishes or rolls back whatever the dead one left.
    const survivor = cluster.backend({ lockTtl_ms: 500 });
    await new Promise((r) => setTimeout(r, 600));
    await survivor.coordinator.recover(0);
    await new Promise((r) => setTimeout(r, 600));
    const second = await survivor.coordinator.recover(0);
    expect(second.resolvedLocks).toBe(0);

    const sold = new Map(products.map((pid) => [pid, 0]));
    for (const oid of oids) {
      const order = await survivor.read('order', oid);
      if (acked.has(oid)) expect(order, `acknowledged order ${oid}`).toBeDefined();
      for (const item of order?.items ?? []) sold.set(item.pid, sold.get(item.pid)! + item.quantity);
    }
    for (const pid of products) {
      const product = await survivor.read('product', pid);
      expect(product!.quantity + sold.get(pid)!, `units of ${pid}`).toBe(1000);
    }
    // Nothing stays locked: every product and client can be written again.
    for (const pid of products) expect((await survivor.execute({ op: 'CreateOrder', oid: `free-${pid}`, cid: '21', data: JSON.stringify([{ id: pid, quantity: 1 }]) })).code).toBe(0);
  });

  // docs/spec.md: R-CONS-1, R-DEV-7
  it('never oversells when many clients race for the last units through two order portals', async () => {
    cluster = await startRaftCluster();
    const setup = cluster.backend();
    expect(await setup.execute({ op: 'CreateProduct', pid: '7', data: '{"name": "ultimo", "price": "9.99", "quantity": 25}' })).toEqual({ code: 0 });
    const cids = Array.from({ length: 20 }, (_, i) => String(500 + i));
    for (const cid of cids) expect(await setup.execute({ op: 'CreateClient', cid, data: '{"name": "c"}' })).toEqual({ code: 0 });
    const ports = [await freePort(), await freePort()];
    const portals = ports.map((port) => {
      const child = spawnEcom(['order-server', String(port), '--mode', 'raft', '--storage-config', cluster!.tier.configFile], { name: `order-${port}`, onLine: null });
      children.push(child);
      return child;
    });
    await Promise.all(ports.map((port, i) => waitForPort('127.0.0.1', port, 30_000, portals[i]!)));
    const clients = ports.map((port) => new PortalClient({ host: '127.0.0.1', port, timeout_ms: 15_000 }));
    const attempts = cids.flatMap((cid, i) => [0, 1, 2].map((k) => ({ oid: String(9_000 + 3 * i + k), cid, quantity: 1 + ((i + k) % 3), via: clients[(i + k) % 2]! })));
    const replies = await Promise.all(attempts.map((a) => a.via.createOrder(a.oid, a.cid, JSON.stringify([{ id: '7', quantity: a.quantity }]))));
    clients.forEach((c) => c.close());
    let sold = 0;
    for (const [i, a] of attempts.entries()) {
      const order = await setup.read('order', a.oid);
      expect(order !== undefined, `order ${a.oid} answered ${JSON.stringify(replies[i])}`).toBe(replies[i]!.error === 0);
      sold += order?.items[0]?.quantity ?? 0;
      if (replies[i]!.error !== 0) expect(replies[i]!.description).toBe('Quantidade indisponível de produto com ID 7');
    }
    const product = await setup.read('product', '7');
    expect(product!.quantity).toBeGreaterThanOrEqual(0);
    expect(product!.quantity + sold).toBe(25);
    expect(sold).toBeGreaterThan(20);
  });
});
