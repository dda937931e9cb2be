/**
 * raft mode benchmark: durable writes/s at the storage API across both partitions, one
 * client's write latency, orders/s through gRPC, and the time from killing a leader to the
 * first successful write. Starts its own tier on free ports in a temporary folder.
 *
 *   npm run bench:raft-mode -- [--seconds 10] [--concurrency 256] [--kills 5]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PortalClient } from '../src/client/portal-client.js';
import { StorageTier } from '../src/modes/raft/storage-tier.js';
import { ReplicaClusterClient } from '../src/replica/cluster-client.js';
import type { ReplicaStatus } from '../src/replica/protocol.js';
import { validateTopology, type ReplicaAddress } from '../src/replica/topology.js';
import { PartitionedBackend } from '../src/storage/partitioned-backend.js';
import { spawnEcom, waitForPort } from '../src/util/processes.js';
import { freePort } from '../test/helpers/ports.js';
import { closedLoop, describeMachine, fmt, percentiles } from './stats.js';

function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
}
const seconds = arg('seconds', 10);
const concurrency = arg('concurrency', 256);
const kills = arg('kills', 5);

const replicas: ReplicaAddress[] = [];
for (let id = 1; id <= 6; id++) replicas.push({ id, partition: id <= 3 ? 0 : 1, host: '127.0.0.1', clientPort: await freePort(), raftPort: await freePort() });
const topology = validateTopology({ partitions: 2, replicas });
const dataDir = mkdtempSync(join(tmpdir(), 'ecom-bench-'));
const tier = new StorageTier({ topology, dataDir });
console.log(`ecom raft-mode benchmark: ${process.argv.slice(1).join(' ')}`);
console.log(`machine: ${describeMachine()}`);
console.log(`tier: 2 partitions × 3 replicas, one process each, fsync before acknowledgement; data in ${dataDir}`);
await tier.start();
const backend = new PartitionedBackend(new ReplicaClusterClient(topology), { requestTimeout_ms: 10_000 });
let nextId = 10_000_000;

const report = (label: string, r: Awaited<ReturnType<typeof closedLoop>>) => {
  const p = percentiles(r.latencies_ms);
  console.log(`${label}: ${Math.round(r.opsPerSec)} ops/s, ${r.errors} errors, p50 ${fmt(p.p50)} ms, p90 ${fmt(p.p90)}, p99 ${fmt(p.p99)}, p99.9 ${fmt(p.p999)}, max ${fmt(p.max)}`);
};

try {
  const writes = await closedLoop(
    async () => (await backend.execute({ op: 'CreateClient', cid: String(nextId++), data: '{"name": "b"}' })).code === 0,
    { concurrency, duration_ms: seconds * 1000, warmup_ms: 1000 },
  );
  report(`storage API durable writes (CreateClient, both partitions, ${concurrency} in flight)`, writes);

  const serial = await closedLoop(async () => (await backend.execute({ op: 'CreateClient', cid: String(nextId++), data: '{"name": "b"}' })).code === 0, {
    concurrency: 1,
    duration_ms: Math.min(5, seconds) * 1000,
    warmup_ms: 500,
  });
  report('one client in series', serial);

  const reads = await closedLoop(async (i) => (await backend.read('client', String(10_000_000 + (i % 1000)))) !== undefined, {
    concurrency,
    duration_ms: Math.min(5, seconds) * 1000,
    warmup_ms: 500,
  });
  report(`linearizable reads (ReadIndex, ${concurrency} in flight)`, reads);

  // Orders through gRPC: a portal process, cross-partition orders (odd clients, even orders, both products).
  for (const pid of ['1', '2']) await backend.execute({ op: 'CreateProduct', pid, data: '{"name": "p", "price": "1.50", "quantity": 9007199254740991}' });
  const cids = Array.from({ length: 64 }, (_, i) => String(2 * i + 1));
  for (const cid of cids) await backend.execute({ op: 'CreateClient', cid, data: '{"name": "c"}' });
  const port = await freePort();
  const portal = spawnEcom(['order-server', String(port), '--mode', 'raft', '--storage-config', tier.configFile], { name: 'portal', onLine: null });
  await waitForPort('127.0.0.1', port, 30_000);
  const clients = Array.from({ length: 4 }, () => new PortalClient({ host: '127.0.0.1', port, timeout_ms: 15_000 }));
  const orders = await closedLoop(
    async (i) => {
      const reply = await clients[i % clients.length]!.createOrder(String(2 * (nextId++)), cids[i % cids.length]!, '[{"id": "1", "quantity": 1}, {"id": "2", "quantity": 2}]');
      return reply.error === 0;
    },
    { concurrency: Math.min(concurrency, 128), duration_ms: seconds * 1000, warmup_ms: 1000 },
  );
  report('CreateOrder through gRPC (2 partitions touched, 2PC)', orders);
  clients.forEach((c) => c.close());
  await portal.stop();

  // Failover: kill -9 a leader under load, time to the first successful write on its partition.
  const failovers: number[] = [];
  const status = new ReplicaClusterClient(topology);
  for (let k = 0; k < kills; k++) {
    const statuses = (await status.statuses(1_000)).filter((s): s is ReplicaStatus => !('unreachable' in s));
    const leader = statuses.find((s) => s.role === 'leader' && s.partition === 0)!;
    const killedAt = Date.now();
    await tier.replicas.get(leader.id)!.kill();
    for (;;) {
      const reply = await backend.execute({ op: 'CreateClient', cid: String(2 * nextId++), data: '{"name": "f"}' });
      if (reply.code === 0) break;
    }
    failovers.push(Date.now() - killedAt);
    tier.startReplica(leader.id);
    await tier.waitForLeaders(30_000);
    // Let the restarted replica catch up before the next kill.
    await new Promise((r) => setTimeout(r, 1_500));
  }
  await status.close();
  const f = percentiles(failovers);
  console.log(`failover (kill -9 of a partition leader → first successful write, ${kills} kills): p50 ${f.p50} ms, p99 ${f.p99} ms, max ${f.max} ms`);
} finally {
  await backend.close();
  await tier.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
