// CPU of two reads a replica makes for the entries it applies (issue #18), each against what it
// replaced, in one process and round by round so the machine's speed falls on both alike:
// - the applied index: asked once per entry a replica is handed; an LMDB read and decode, or the
//   value the store keeps beside it since its last batch (src/storage/replica/lmdb-store.ts);
// - a session's acknowledged results: found by a scan through the replica's store layering (a
//   batch staged over LMDB, an entry staged over the batch) before they are deleted, about one
//   per entry at 512 in flight, in steps of about 118 seqs; read with their values (range) or
//   keys only (keys).
//   node --import tsx bench/store-reads.ts [--rounds N] [--results N]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { APPLIED_KEY, LmdbStateStore } from '../src/storage/replica/lmdb-store.js';
import { RecordingStateStore, StagedStateStore } from '../src/storage/replica/state-store.js';
import { printMachine } from './machine.js';
import { numberArg } from './script-args.js';

const ROUNDS = numberArg('--rounds', 9);
const RESULTS = numberArg('--results', 100_000);
const ACK_STEP = 118;
const APPLIED_READS = 500_000;

const dir = mkdtempSync(join(tmpdir(), 'ecom-store-reads-'));
const state = new LmdbStateStore(dir);
const resultKey = (seq: number) => `s/bench/${String(seq).padStart(16, '0')}`;
// A session's remembered results, every other seq (the rest went to the other partition).
state.applyBatch(1, () => {
  for (let i = 0; i < RESULTS; i++) state.put(resultKey(2 * i), { t: 'reply', reply: { code: 0 } });
});
const batch = new StagedStateStore(state);
const entry = new StagedStateStore(new RecordingStateStore(batch));
// A batch's writes staged meanwhile, as when a replica applies.
for (let i = 0; i < 400; i++) batch.put(`r/client/${i}`, { kind: 'client', name: 'Ana' });

const cpu_us = () => {
  const used = process.cpuUsage();
  return used.user + used.system;
};

/** Microseconds of CPU per key found, scanning the whole session in steps of ACK_STEP seqs. */
function scan(how: 'range' | 'keys'): number {
  const started = cpu_us();
  let found = 0;
  for (let from = 0; from < 2 * RESULTS; from += ACK_STEP) {
    if (how === 'keys') {
      for (const _ of entry.keys('s/bench/', resultKey(from), resultKey(from + ACK_STEP))) found++;
      continue;
    }
    const end = resultKey(from + ACK_STEP);
    for (const [key] of entry.range('s/bench/', resultKey(from))) {
      if (key >= end) break;
      found++;
    }
  }
  if (found !== RESULTS) throw new Error(`the ${how} scan found ${found} results of ${RESULTS}`);
  return (cpu_us() - started) / found;
}

/** Microseconds of CPU per read of the applied index. */
function appliedReads(how: 'lmdb' | 'kept'): number {
  const started = cpu_us();
  let sum = 0;
  for (let i = 0; i < APPLIED_READS; i++) sum += how === 'lmdb' ? (state.get(APPLIED_KEY) as number) : state.lastApplied;
  if (sum !== APPLIED_READS) throw new Error(`the applied index read ${sum / APPLIED_READS}, not 1`);
  return (cpu_us() - started) / APPLIED_READS;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

try {
  printMachine();
  const figures = { range: [] as number[], keys: [] as number[], lmdb: [] as number[], kept: [] as number[] };
  for (let round = 1; round <= ROUNDS; round++) {
    figures.range.push(scan('range'));
    figures.keys.push(scan('keys'));
    figures.lmdb.push(appliedReads('lmdb'));
    figures.kept.push(appliedReads('kept'));
  }
  console.log(`acknowledged results (${RESULTS} in steps of ${ACK_STEP} seqs, median of ${ROUNDS} round${ROUNDS === 1 ? '' : 's'}): with values ${median(figures.range).toFixed(3)} µs of CPU per key, keys only ${median(figures.keys).toFixed(3)} µs`);
  console.log(`applied index (${APPLIED_READS} reads a round): read from LMDB ${median(figures.lmdb).toFixed(3)} µs of CPU per read, kept by the store ${median(figures.kept).toFixed(4)} µs`);
} finally {
  await state.close();
  rmSync(dir, { recursive: true, force: true });
}
