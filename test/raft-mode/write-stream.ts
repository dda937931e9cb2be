import { expect } from 'vitest';
import type { PartitionedBackend } from '../../src/storage/client/partitioned-backend.js';

/** Writers and checks shared by the raft-mode tests that write while replicas come and go. */

/** Writers creating clients on both partitions; every acknowledged id is kept to be read back. */
export function writeStream(backend: PartitionedBackend, tag: string, concurrency = 8) {
  const acked: string[] = [];
  const failures: string[] = [];
  /** Each acknowledged write's latency, in ms, in the order they were answered. */
  const latencies: number[] = [];
  let running = true;
  const done = Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      for (let i = 0; running; i++) {
        const cid = `${tag}${w}-${i}`;
        const started = performance.now();
        const reply = await backend.execute({ op: 'CreateClient', cid, data: '{"name": "m"}' });
        latencies.push(performance.now() - started);
        if (reply.code === 0) acked.push(cid);
        else failures.push(`${cid}: ${JSON.stringify(reply)}`);
      }
    }),
  );
  return {
    acked,
    failures,
    /** p50, p99 and max latency of the writes answered since `from` (an index into the answers). */
    figures(from = 0): string {
      const sorted = latencies.slice(from).sort((a, b) => a - b);
      const at = (q: number) => (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0).toFixed(0);
      return `${sorted.length} writes, p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms`;
    },
    answered: () => latencies.length,
    async progress(n: number, timeout_ms = 30_000) {
      const target = acked.length + n;
      const deadline = Date.now() + timeout_ms;
      while (acked.length < target) {
        if (Date.now() > deadline) throw new Error(`only ${acked.length} of ${target} writes acknowledged in time (failures: ${failures.slice(0, 3).join('; ')})`);
        // Progress is the writers' own acknowledgements; there is no event to await.
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    stop: async () => {
      running = false;
      await done;
    },
  };
}

export async function expectAllPresent(backend: PartitionedBackend, cids: readonly string[]): Promise<void> {
  const missing: string[] = [];
  for (let i = 0; i < cids.length; i += 200) {
    const batch = cids.slice(i, i + 200);
    const found = await Promise.all(batch.map((cid) => backend.read('client', cid)));
    found.forEach((record, j) => record === undefined && missing.push(batch[j]!));
  }
  expect(missing, `acknowledged but missing: ${missing.slice(0, 10).join(', ')}`).toEqual([]);
}

