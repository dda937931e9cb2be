// CPU per applied entry on one replica (issue #12): CreateClient entries from one session with
// 512 requests in flight, each encoded as the log holds it (the leader's work, not timed), then applied as
// src/storage/replica/replica.ts does: entries already applied skipped by the store's applied
// index, each decoded, checked and applied through the replica's own store layering (a batch
// staged over LMDB, each entry staged over the batch). Applying is about half of the CPU a
// durable write costs across the three replicas, and this measures it without sockets, fsyncs
// or the other processes that make `ecom bench` noisy.
// A client acknowledges the answers it has received by the lowest seq still in flight
// (src/storage/client/coordinator.ts), and answers come back a piece of the log at a time, so
// its acknowledgement moves in jumps: --ack-step N moves it N at a time (1: one answer at a time;
// about 118 at `ecom bench run put -c 512`).
// To compare two builds, give the other checkout with --against DIR: both apply in this one
// process, round by round in turn, so the machine's changes of speed (a third from one minute
// to the next here) fall on both alike, and the figure to read is how the two compare round by
// round. Both checkouts must have the modules imported below (any build since 2026-12-05 does).
//   node --import tsx bench/apply-cost.ts [--batches N] [--batch N] [--rounds N] [--ack-step N] [--against DIR]
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type * as EntriesModule from '../src/storage/common/entries.js';
import type * as ValidateModule from '../src/storage/common/validate.js';
import type * as LmdbStoreModule from '../src/storage/replica/lmdb-store.js';
import type * as MachineModule from '../src/storage/replica/partition-machine.js';
import type * as StateStoreModule from '../src/storage/replica/state-store.js';
import { printMachine } from './machine.js';
import { numberArg, refusal, textArg } from './script-args.js';

const USAGE = 'node --import tsx bench/apply-cost.ts [--batches N] [--batch N] [--rounds N] [--ack-step N] [--against DIR]';
const BATCHES = numberArg('--batches', 400);
const BATCH = numberArg('--batch', 128);
const ROUNDS = numberArg('--rounds', 5);
const ACK_STEP = numberArg('--ack-step', 1);
const AGAINST = textArg('--against');
const IN_FLIGHT = 512;
const WARM_UP_BATCHES = 50;
const refuse = refusal('apply-cost', USAGE);

/** One checkout's apply path over a store of its own. */
interface Applier {
  readonly name: string;
  /** Applies `count` batches; answers the CPU and wall time the applying took, in µs, without making the entries (the leader's work). */
  applyBatches(count: number): { cpu_us: number; wall_us: number };
  close(): Promise<void>;
}

async function applierOf(root: string, name: string): Promise<Applier> {
  // The other checkout's modules are taken to have this one's shape (the ones a replica applies with).
  const load = <M>(path: string) => import(pathToFileURL(join(root, 'src', path)).href) as Promise<M>;
  const [{ INDEXED, encodeEntry, decodeEntry }, { partitionOpProblem }, { LmdbStateStore }, { PartitionMachine }, { RecordingStateStore, StagedStateStore }] = await Promise.all([
    load<typeof EntriesModule>('storage/common/entries.ts'),
    load<typeof ValidateModule>('storage/common/validate.ts'),
    load<typeof LmdbStoreModule>('storage/replica/lmdb-store.ts'),
    load<typeof MachineModule>('storage/replica/partition-machine.ts'),
    load<typeof StateStoreModule>('storage/replica/state-store.ts'),
  ]);
  const dir = mkdtempSync(join(tmpdir(), 'ecom-apply-cost-'));
  const state = new LmdbStateStore(dir);
  const batch = new StagedStateStore(state);
  const recording = new RecordingStateStore(batch);
  const staged = new StagedStateStore(recording);
  const machine = new PartitionMachine(staged, { partition: 0, partitions: 2 });
  let seq = 0;
  let index = 0;
  /** A batch's entries as the log hands them over: encoded, numbered. */
  const nextEntries = () =>
    Array.from({ length: BATCH }, () => {
      const s = seq++;
      // Even IDs live on partition 0; the client acknowledges what is no longer in flight.
      const op = { t: 'exec' as const, session: { client: 'apply-cost', seq: s, ackBelow: Math.max(0, Math.floor((s - IN_FLIGHT) / ACK_STEP) * ACK_STEP) }, command: { op: 'CreateClient' as const, cid: String(2 * s), data: '{"name": "Ana"}' }, format: INDEXED };
      return { index: ++index, data: encodeEntry({ time_ms: 1_000 + s, op }) };
    });
  return {
    name,
    applyBatches(count: number): { cpu_us: number; wall_us: number } {
      const spent = { cpu_us: 0, wall_us: 0 };
      for (let b = 0; b < count; b++) {
        const entries = nextEntries();
        // Made one batch at a time, not all before: entries held across the whole round would be
        // promoted by the collector and charge the apply for it.
        const cpuBefore = process.cpuUsage();
        const started = performance.now();
        const fresh = entries.filter((e) => e.index > state.lastApplied);
        state.applyBatch(fresh[fresh.length - 1]!.index, () => {
          for (const entry of fresh) {
            const { time_ms, op } = decodeEntry(entry.data);
            // As the replica does: a membership entry goes elsewhere, every other one is checked.
            if (op.t === 'address' || partitionOpProblem(op, 0, 2) !== undefined) throw new Error(`apply-cost made an entry a replica would not apply: ${JSON.stringify(op)}`);
            machine.apply({ time_ms, op });
            staged.commit();
          }
          batch.commit();
          batch.discard();
        });
        recording.changedRecords.clear();
        const cpu = process.cpuUsage(cpuBefore);
        spent.cpu_us += cpu.user + cpu.system;
        spent.wall_us += (performance.now() - started) * 1000;
      }
      return spent;
    },
    async close(): Promise<void> {
      await state.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The lowest and the median of `values`. */
function spread(values: readonly number[]): { lowest: number; median: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return { lowest: sorted[0]!, median: sorted[Math.floor(sorted.length / 2)]! };
}

const here = resolve(fileURLToPath(new URL('..', import.meta.url)));
if (AGAINST !== undefined && !existsSync(join(AGAINST, 'src', 'storage', 'replica', 'partition-machine.ts'))) refuse(`--against ${AGAINST}: no ecom checkout there (src/storage/replica/partition-machine.ts is missing)`);
const appliers = [await applierOf(here, AGAINST === undefined ? 'this checkout' : `this checkout (${here})`)];
if (AGAINST !== undefined) appliers.push(await applierOf(resolve(AGAINST), `--against ${resolve(AGAINST)}`));

try {
  printMachine();
  for (const applier of appliers) applier.applyBatches(WARM_UP_BATCHES);
  // This machine runs at two speeds from one second to the next: the rounds show which, and
  // the lowest is the figure to compare between builds run apart.
  const perEntry_us: number[][] = appliers.map(() => []);
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [i, applier] of appliers.entries()) {
      const spent = applier.applyBatches(BATCHES);
      const us = spent.cpu_us / (BATCHES * BATCH);
      perEntry_us[i]!.push(us);
      const who = appliers.length > 1 ? `${applier.name}: ` : '';
      console.log(`round ${round}/${ROUNDS}: ${who}${BATCHES * BATCH} CreateClient entries in batches of ${BATCH}, acknowledged ${ACK_STEP} at a time: ${us.toFixed(2)} µs of CPU per entry, ${(spent.wall_us / (BATCHES * BATCH)).toFixed(2)} µs wall`);
    }
  }
  for (const [i, applier] of appliers.entries()) {
    const { lowest, median } = spread(perEntry_us[i]!);
    console.log(`CPU per applied entry${appliers.length > 1 ? `, ${applier.name}` : ''}: lowest ${lowest.toFixed(2)} µs, median ${median.toFixed(2)} µs over ${ROUNDS} rounds`);
  }
  if (appliers.length > 1) {
    const [mine, theirs] = perEntry_us as [number[], number[]];
    const ratios = mine.map((us, round) => us / theirs[round]!);
    const lower = ratios.filter((r) => r < 1).length;
    console.log(`this checkout against the other, round by round: median ratio ${spread(ratios).median.toFixed(3)} (lower in ${lower} of ${ROUNDS} rounds)`);
  }
} finally {
  for (const applier of appliers) await applier.close();
}
