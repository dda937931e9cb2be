/**
 * mqtt mode benchmark: real portal processes on a real broker (the embedded one, then
 * Mosquitto when installed). Prints figures; it is not a test and asserts nothing.
 *
 *   npm run bench:mqtt                   # both brokers
 *   BENCH_MQTT_BROKERS=aedes npm run bench:mqtt
 *
 * Figures:
 * - writes/s through one portal, and spread over 3 portals (64 calls in flight);
 * - at paced rates (250 and 1,000 writes/s by default, BENCH_MQTT_RATES=250,1000) spread over
 *   3 portals, the write latency and the delay from sending a write until it
 *   is visible on every portal (p50/p99). A probe write is read back from the two portals
 *   that did not receive it, in a loop (1 ms pause between reads), until both show it: the
 *   resolution is one read plus the pause (about 1.5 ms here), and probe reads add some load.
 */
import { cpus, loadavg } from 'node:os';
import { findMosquitto, MqttCluster, startBroker, stopBroker, type BrokerKind, type TestPortal } from '../test/mqtt/cluster.js';

const IN_FLIGHT = 64;
const THROUGHPUT_WRITES = 4_000;
const PACED_RATES_PER_S = (process.env.BENCH_MQTT_RATES ?? '250,1000').split(',').map(Number);
const PACED_DURATION_MS = 5_000;
const PROBE_EVERY = 20;
const PROBE_PAUSE_MS = 1;

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

async function throughput(portals: readonly TestPortal[], label: string, prefix: string): Promise<void> {
  let next = 0;
  let failed = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < THROUGHPUT_WRITES) {
        const i = next++;
        const portal = portals[i % portals.length] as TestPortal;
        const reply = await portal.client.createClient(`${prefix}${i}`, '{"name": "bench"}');
        if (reply.error !== 0) failed++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  console.log(`  ${label}: ${Math.round(THROUGHPUT_WRITES / seconds)} writes/s (${THROUGHPUT_WRITES} writes in ${seconds.toFixed(2)} s, ${failed} failed)`);
}

async function visibility(portals: readonly TestPortal[], prefix: string, rate_per_s: number): Promise<void> {
  const delays: number[] = [];
  const latencies: number[] = [];
  const writes: Array<Promise<unknown>> = [];
  let failed = 0;
  const total = Math.round((rate_per_s * PACED_DURATION_MS) / 1000);
  const started = performance.now();
  for (let i = 0; i < total; i++) {
    // Pace by the clock rather than by sleeping a fixed step, so slow steps do not lower the rate.
    const due = started + (i * 1000) / rate_per_s;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    const origin = portals[i % portals.length] as TestPortal;
    const id = `${prefix}${i}`;
    const sent = performance.now();
    const write = origin.client.createClient(id, '{"name": "v"}').then((reply) => {
      latencies.push(performance.now() - sent);
      if (reply.error !== 0) failed++;
    });
    writes.push(write);
    if (i % PROBE_EVERY === 0) {
      const others = portals.filter((p) => p !== origin);
      writes.push(
        Promise.all(
          others.map(async (portal) => {
            // A short pause between reads keeps the probes from becoming the load they measure.
            while ((await portal.client.retrieveClient(id)).CID !== id) await new Promise((resolve) => setTimeout(resolve, PROBE_PAUSE_MS));
          }),
        ).then(() => delays.push(performance.now() - sent)),
      );
    }
  }
  await Promise.all(writes);
  const achieved = total / ((performance.now() - started) / 1000);
  delays.sort((a, b) => a - b);
  latencies.sort((a, b) => a - b);
  console.log(`  paced at ${rate_per_s} writes/s for ${PACED_DURATION_MS / 1000} s (${Math.round(achieved)} writes/s completed, counting the wait for the last ones):`);
  console.log(`    write latency (reply from the receiving portal): p50 ${percentile(latencies, 50).toFixed(2)} ms, p99 ${percentile(latencies, 99).toFixed(2)} ms`);
  console.log(
    `    visible on all 3 portals: p50 ${percentile(delays, 50).toFixed(2)} ms, p99 ${percentile(delays, 99).toFixed(2)} ms, max ${percentile(delays, 100).toFixed(2)} ms (${delays.length} probes, ${failed} failed writes)`,
  );
}

async function run(kind: BrokerKind, mosquitto: string | undefined): Promise<void> {
  const broker = await startBroker(kind, mosquitto);
  const cluster = new MqttCluster(broker);
  try {
    const portals = [await cluster.addPortal('admin'), await cluster.addPortal('admin'), await cluster.addPortal('order')];
    console.log(`${kind} broker, 3 portal processes:`);
    // Processes run TypeScript through tsx and the JIT warms up over the first thousands of
    // calls (single mode goes from ~2,000 to ~6,500 calls/s); measure after that.
    await throughput(portals, 'warm-up (not a figure)', 'warm-');
    await throughput(portals.slice(0, 1), 'through one portal', 'one-');
    await throughput(portals, 'spread over 3 portals', 'three-');
    for (const rate of PACED_RATES_PER_S) await visibility(portals, `vis${rate}-`, rate);
  } finally {
    await cluster.stop();
    await stopBroker(broker);
  }
}

// This machine may be shared: the figures mean little without the load they were taken under.
console.log(`load average before: ${loadavg().map((l) => l.toFixed(2)).join(' ')} on ${cpus().length} cores`);
const wanted = (process.env.BENCH_MQTT_BROKERS ?? 'aedes,mosquitto').split(',');
const mosquitto = findMosquitto();
for (const kind of ['aedes', 'mosquitto'] as const) {
  if (!wanted.includes(kind)) continue;
  if (kind === 'mosquitto' && mosquitto === undefined) {
    console.log('mosquitto: not installed, skipped (apt-get install -y mosquitto)');
    continue;
  }
  await run(kind, mosquitto);
}
console.log(`load average after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
