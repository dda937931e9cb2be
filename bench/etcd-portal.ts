/**
 * Orders per second and latency through the gRPC portals, the same workload on every mode in
 * the same run: etcd mode next to raft mode and single mode (one
 * in-memory process, the ceiling set by gRPC itself).
 *
 *   npm run bench:etcd -- [--seconds 10] [--warmup-seconds 3] [--concurrency 32] [--modes etcd,raft,single] [--seed N]
 *
 * Each mode runs as `ecom up --mode M` in a child process, started exactly as a user starts it
 * (etcd mode starts its own local 3-member etcd cluster). Two workloads per mode:
 *   spread  orders of 1-3 items over 200 products (little contention)
 *   hot     every order takes one unit of the same product (every write conflicts)
 * Each measured run follows an unmeasured warm-up of the same workload (JIT, connections to
 * every etcd member, etcd's own caches): the first seconds run at a fraction of the steady rate.
 * Adding a mode to the comparison needs nothing here: any registered mode in --modes is run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PortalClient } from '../src/client/portal-client.js';
import { MODES } from '../src/modes/registry.js';
import { freePort } from '../src/modes/etcd/cluster.js';
import { spawnEcom, waitForPort, type EcomChild } from '../src/util/processes.js';
import { rng } from '../src/util/random.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    'warmup-seconds': { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '32' },
    modes: { type: 'string', default: 'etcd,raft,single' },
    seed: { type: 'string' },
  },
});
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);
const warmup_s = Number(values['warmup-seconds']);
if (!(warmup_s >= 0 && warmup_s <= 600)) throw new Error(`--warmup-seconds must be from 0 to 600, not ${values['warmup-seconds']}`);
if (!(seconds > 0 && seconds <= 600)) throw new Error(`--seconds must be from 1 to 600, not ${values.seconds}`);
if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 1_000) throw new Error(`--concurrency must be from 1 to 1000, not ${values.concurrency}`);
const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
const requested = values.modes.split(',').map((m) => m.trim());
const shipped = new Set(MODES.map((m) => m.name));
const modes = requested.filter((m) => shipped.has(m));
const missing = requested.filter((m) => !shipped.has(m));

const PRODUCTS = 200;
const CLIENTS = 50;
/** Connections from the bench to the portal; grpc-js serialises calls per channel. */
const CHANNELS = 4;


interface Figures {
  mode: string;
  workload: string;
  orders: number;
  rejected: number;
  unavailable: number;
  orders_per_s: number;
  p50_ms: number;
  p99_ms: number;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * What `ecom up` needs per mode to start from nothing and leave nothing behind. This is the
 * hook for a mode whose defaults would reuse a user's data.
 */
const scratch = mkdtempSync(join(tmpdir(), 'ecom-bench-portal-'));
const UP_ARGS: Record<string, string[]> = {
  raft: ['--data', join(scratch, 'raft')],
};

async function startMode(mode: string): Promise<{ child: EcomChild; clients: PortalClient[] }> {
  const [adminPort, orderPort] = [await freePort(), await freePort()];
  const args = ['up', '--mode', mode, '--admin-port', String(adminPort), '--order-port', String(orderPort), ...(UP_ARGS[mode] ?? [])];
  const child = spawnEcom(args, {
    name: `bench-${mode}`,
    env: { ECOM_LOG_LEVEL: 'warn' },
  });
  await waitForPort('127.0.0.1', adminPort, 60_000, () => child.process.exitCode === null);
  await waitForPort('127.0.0.1', orderPort, 60_000, () => child.process.exitCode === null);
  const clients = Array.from({ length: CHANNELS }, (_, i) => new PortalClient({ host: '127.0.0.1', port: i % 2 === 0 ? orderPort : adminPort, timeout_ms: 30_000 }));
  return { child, clients };
}

async function runWorkload(mode: string, workload: 'spread' | 'hot', clients: PortalClient[], run: number, seconds: number): Promise<Figures> {
  const admin = clients[0]!;
  const random = rng(seed + run);
  const pidOf = (i: number) => `${workload}${run}-p${i}`;
  const cidOf = (i: number) => `${workload}${run}-c${i}`;
  for (let i = 0; i < CLIENTS; i++) await admin.createClient(cidOf(i), '{"name": "Bench"}');
  const productCount = workload === 'hot' ? 1 : PRODUCTS;
  for (let i = 0; i < productCount; i++) await admin.createProduct(pidOf(i), JSON.stringify({ name: 'P', price: '1.99', quantity: 1_000_000_000 }));

  const latencies_ms: number[] = [];
  let rejected = 0;
  let unavailable = 0;
  let next = 0;
  const end_ms = Date.now() + seconds * 1_000;
  const worker = async (w: number) => {
    const client = clients[w % clients.length]!;
    while (Date.now() < end_ms) {
      const oid = `${workload}${run}-o${next++}`;
      const lines =
        workload === 'hot'
          ? [{ id: pidOf(0), quantity: '1' }]
          : Array.from({ length: 1 + Math.floor(random() * 3) }, () => ({ id: pidOf(Math.floor(random() * PRODUCTS)), quantity: '1' }));
      const started = performance.now();
      const reply = await client.createOrder(oid, cidOf(Math.floor(random() * CLIENTS)), JSON.stringify(lines));
      const took = performance.now() - started;
      if (reply.error === 0) latencies_ms.push(took);
      else if (reply.error === 503) unavailable++;
      else rejected++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  const elapsed_s = (performance.now() - started) / 1_000;
  latencies_ms.sort((a, b) => a - b);
  return {
    mode,
    workload,
    orders: latencies_ms.length,
    rejected,
    unavailable,
    orders_per_s: Math.round(latencies_ms.length / elapsed_s),
    p50_ms: Number(percentile(latencies_ms, 50).toFixed(2)),
    p99_ms: Number(percentile(latencies_ms, 99).toFixed(2)),
  };
}

console.log(`load average before the run: ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${cpus().length} cores (other work on the machine skews every figure)`);
console.log(`portal benchmark: ${seconds} s per workload, ${concurrency} concurrent callers, ${CHANNELS} channels, seed ${seed}`);
if (missing.length > 0) console.log(`not in this build, skipped: ${missing.join(', ')} (they join the table once registered in src/modes/registry.ts)`);
const results: Figures[] = [];
let run = 0;
try {
  for (const mode of modes) {
    const { child, clients } = await startMode(mode);
    try {
      for (const workload of ['spread', 'hot'] as const) {
        if (warmup_s > 0) await runWorkload(mode, workload, clients, run++, warmup_s);
        const figures = await runWorkload(mode, workload, clients, run++, seconds);
        results.push(figures);
        console.log(JSON.stringify(figures));
      }
    } finally {
      for (const client of clients) client.close();
      await child.stop(15_000);
    }
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
console.log('\nmode     workload  orders/s   p50 ms   p99 ms   orders  rejected  503s');
for (const r of results) {
  console.log(
    `${r.mode.padEnd(8)} ${r.workload.padEnd(8)} ${String(r.orders_per_s).padStart(9)} ${r.p50_ms.toFixed(2).padStart(8)} ${r.p99_ms.toFixed(2).padStart(8)} ${String(r.orders).padStart(8)} ${String(r.rejected).padStart(9)} ${String(r.unavailable).padStart(5)}`,
  );
}
