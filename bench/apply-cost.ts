// CPU per applied entry on one replica (issue #12): CreateClient entries from one session with
// 512 requests in flight, applied in batches through the replica's own store layering (a batch
// staged over LMDB, each entry staged over the batch), as src/storage/replica/replica.ts does.
// Applying is about half of the CPU a durable write costs across the three replicas, and this
// measures it without sockets, fsyncs or the other processes that make `ecom bench` noisy: to
// compare two builds, run it in each checkout, alternating.
// A client acknowledges the answers it has received by the lowest seq still in flight
// (src/storage/client/coordinator.ts), and answers come back a piece of the log at a time, so
// its acknowledgement moves in jumps: --ack-step N moves it N at a time (1: one answer at a time).
//   node --import tsx bench/apply-cost.ts [--batches N] [--batch N] [--rounds N] [--ack-step N]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INDEXED } from '../src/storage/common/entries.js';
import { LmdbStateStore } from '../src/storage/replica/lmdb-store.js';
import { PartitionMachine } from '../src/storage/replica/partition-machine.js';
import { RecordingStateStore, StagedStateStore } from '../src/storage/replica/state-store.js';
import { printMachine } from './machine.js';
import { numberArg } from './script-args.js';

const BATCHES = numberArg('--batches', 400);
const BATCH = numberArg('--batch', 128);
const ROUNDS = numberArg('--rounds', 5);
const ACK_STEP = numberArg('--ack-step', 1);
const IN_FLIGHT = 512;
const WARM_UP_BATCHES = 50;

const dir = mkdtempSync(join(tmpdir(), 'ecom-apply-cost-'));
const state = new LmdbStateStore(dir);
const batch = new StagedStateStore(state);
const recording = new RecordingStateStore(batch);
const staged = new StagedStateStore(recording);
const machine = new PartitionMachine(staged, { partition: 0, partitions: 2 });
let seq = 0;
let applied = 0;

function applyBatches(count: number): void {
  for (let b = 0; b < count; b++) {
    state.applyBatch(++applied, () => {
      for (let i = 0; i < BATCH; i++) {
        const s = seq++;
        // Even IDs live on partition 0; the client acknowledges what is no longer in flight.
        const op = { t: 'exec', session: { client: 'apply-cost', seq: s, ackBelow: Math.max(0, Math.floor((s - IN_FLIGHT) / ACK_STEP) * ACK_STEP) }, command: { op: 'CreateClient', cid: String(2 * s), data: '{"name": "Ana"}' }, format: INDEXED } as const;
        machine.apply({ time_ms: 1_000 + s, op });
        staged.commit();
      }
      batch.commit();
      batch.discard();
    });
    recording.changedRecords.clear();
  }
}

try {
  printMachine();
  applyBatches(WARM_UP_BATCHES);
  // This machine runs at two speeds from one second to the next: the rounds show which, and
  // the lowest is the figure to compare between builds.
  const perEntry_us: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    applyBatches(BATCHES);
    const cpu = process.cpuUsage(cpuBefore);
    const us = (cpu.user + cpu.system) / (BATCHES * BATCH);
    perEntry_us.push(us);
    console.log(`round ${round}/${ROUNDS}: ${BATCHES * BATCH} CreateClient entries in batches of ${BATCH}, acknowledged ${ACK_STEP} at a time: ${us.toFixed(2)} µs of CPU per entry, ${(((performance.now() - started) * 1000) / (BATCHES * BATCH)).toFixed(2)} µs wall`);
  }
  const sorted = [...perEntry_us].sort((a, b) => a - b);
  console.log(`CPU per applied entry: lowest ${sorted[0]!.toFixed(2)} µs, median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(2)} µs over ${ROUNDS} rounds`);
} finally {
  await state.close();
  rmSync(dir, { recursive: true, force: true });
}
