// What `ecom up`'s link proxies cost (the dashboard's cut and heal, issue #14): starts `ecom up`
// (raft mode, dashboard on) with and without --no-link-proxies, alternating, and runs one
// durable write at a time (CreateClient with a fresh ID, as `ecom bench run put -c 1` does, which
// cannot be used here: it starts its own tier, without proxies) against its storage tier.
// Prints per run: writes/s, p50/p99, and the CPU time of the ecom up process (where the proxies
// run) per write and per second idle, read from /proc (Linux).
//   node --import tsx bench/link-proxies.ts [--rounds N] [--seconds S]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PartitionedBackend } from '../src/storage/client/partitioned-backend.js';
import { ReplicaClusterClient } from '../src/storage/client/cluster-client.js';
import { freeLocalTopology, loadTopology } from '../src/storage/common/topology.js';
import { freePort } from '../src/util/ports.js';
import { spawnEcom, waitForPort, type EcomChild } from '../src/util/processes.js';
import { printMachine } from './machine.js';
import { cpu_ms, numberArg } from './script-args.js';

const ROUNDS = numberArg('--rounds', 3);
const SECONDS = numberArg('--seconds', 10);
const IDLE_SECONDS = 5;
async function startUp(dir: string, proxies: boolean): Promise<EcomChild> {
  writeFileSync(join(dir, 'cluster.json'), JSON.stringify(await freeLocalTopology()));
  const [admin, order, broker, dashboard] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const lines: string[] = [];
  const args = ['up', '--data', join(dir, 'data'), '--storage-config', join(dir, 'cluster.json'), '--admin-port', String(admin), '--order-port', String(order), '--broker-port', String(broker), '--dashboard-port', String(dashboard)];
  const up = spawnEcom(proxies ? args : [...args, '--no-link-proxies'], { name: 'up', onLine: (_n, line) => lines.push(line) });
  await waitForPort('127.0.0.1', order, 90_000, up);
  // ecom up has no event for "up" but its line: poll its output.
  while (!lines.some((l) => l.includes('system is up'))) await new Promise((r) => setTimeout(r, 50));
  if (proxies !== lines.some((l) => l.includes("pass through ecom up's own proxies"))) throw new Error(`ecom up did not put proxies ${proxies ? 'on' : 'off'} as asked`);
  return up;
}

async function run(proxies: boolean, round: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ecom-link-cost-'));
  const up = await startUp(dir, proxies);
  try {
    const idleFrom = cpu_ms(up.pid);
    await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
    const idle = (cpu_ms(up.pid) - idleFrom) / IDLE_SECONDS;
    const backend = new PartitionedBackend(new ReplicaClusterClient(loadTopology(join(dir, 'data', 'topology.json'))), { requestTimeout_ms: 10_000 });
    let n = 0;
    const write = async () => {
      const reply = await backend.execute({ op: 'CreateClient', cid: `w${n++}`, data: '{"name": "bench"}' });
      if (reply.code !== 0) throw new Error(`a write failed: ${JSON.stringify(reply)}`);
    };
    for (const warm = Date.now() + 2_000; Date.now() < warm; ) await write();
    const latencies: number[] = [];
    const [started, cpuFrom] = [Date.now(), cpu_ms(up.pid)];
    while (Date.now() - started < SECONDS * 1000) {
      const t = process.hrtime.bigint();
      await write();
      latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    const elapsed_s = (Date.now() - started) / 1000;
    const perWrite_us = ((cpu_ms(up.pid) - cpuFrom) * 1000) / latencies.length;
    await backend.close();
    latencies.sort((a, b) => a - b);
    const q = (p: number) => (latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN).toFixed(2);
    const load = loadavg()[0]?.toFixed(1);
    console.log(`proxies ${proxies ? 'on ' : 'off'} round ${round}: ${(latencies.length / elapsed_s).toFixed(0)} writes/s, p50 ${q(0.5)} ms, p99 ${q(0.99)} ms; ecom up CPU ${perWrite_us.toFixed(0)} µs/write, idle ${idle.toFixed(0)} ms/s; load ${load}`);
  } finally {
    up.process.kill('SIGINT');
    await up.exited;
    rmSync(dir, { recursive: true, force: true, maxRetries: 10 });
  }
}

printMachine();
console.log(`one write at a time, ${SECONDS} s per run after 2 s of warm-up, ${ROUNDS} rounds alternating`);
for (let round = 1; round <= ROUNDS; round++) {
  await run(true, round);
  await run(false, round);
}
