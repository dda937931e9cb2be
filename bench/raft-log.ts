// Fsynced entries per second of the durable log with group commit (one fdatasync per batch), at
// batch sizes 1, 10 and 100, against the floor: the same bytes written with fs.writeSync and
// made durable with fs.fdatasyncSync per batch. Target: within 2× of raw.
//   node --import tsx bench/raft-log.ts [--dir DIR] [--seconds S] [--rounds R] [--payload BYTES]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileLog } from '../src/raft/log/file-log.js';
import type { Entry } from '../src/raft/types.js';
import { encodeRecord } from '../src/raft/log/records.js';
import { printMachine } from './machine.js';
import { numberArg } from './script-args.js';

const dirAt = process.argv.indexOf('--dir');
const base = dirAt >= 0 ? (process.argv[dirAt + 1] ?? os.tmpdir()) : os.tmpdir();
const seconds = numberArg('--seconds', 1);
const payload_bytes = numberArg('--payload', 128);
const payload = new Uint8Array(payload_bytes).fill(42);

function entryAt(index: number): Entry {
  return { term: 1, index, kind: 'normal', data: payload };
}

function benchLog(batch: number): number {
  const dir = fs.mkdtempSync(path.join(base, 'raft-log-bench-'));
  try {
    const log = FileLog.open(dir);
    let next = 1;
    const started = process.hrtime.bigint();
    const deadline = started + BigInt(Math.round(seconds * 1e9));
    while (process.hrtime.bigint() < deadline) {
      const entries: Entry[] = [];
      for (let i = 0; i < batch; i++) entries.push(entryAt(next++));
      log.append(entries);
      log.setHardState({ term: 1, vote: 1, commit: next - 1 });
      log.sync();
    }
    const elapsed_s = Number(process.hrtime.bigint() - started) / 1e9;
    log.close();
    return (next - 1) / elapsed_s;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function benchRaw(batch: number): number {
  const dir = fs.mkdtempSync(path.join(base, 'raft-raw-bench-'));
  try {
    const fd = fs.openSync(path.join(dir, 'raw'), 'a');
    // The same bytes the log writes for a batch, prepared once: only write + fdatasync are timed.
    const record_bytes = encodeRecord({ type: 'entry', entry: entryAt(1) }).length;
    const buf = Buffer.alloc(record_bytes * batch + 33, 1);
    let entries = 0;
    const started = process.hrtime.bigint();
    const deadline = started + BigInt(Math.round(seconds * 1e9));
    while (process.hrtime.bigint() < deadline) {
      fs.writeSync(fd, buf);
      fs.fdatasyncSync(fd);
      entries += batch;
    }
    const elapsed_s = Number(process.hrtime.bigint() - started) / 1e9;
    fs.closeSync(fd);
    return entries / elapsed_s;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

printMachine();
console.log(`directory: ${base} (${seconds} s per measurement, ${payload_bytes}-byte payloads)`);
const median = (xs: number[]): number => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rounds = numberArg('--rounds', 3);
for (const batch of [1, 10, 100]) {
  // Alternate raw and log so drift in the disk's fsync latency hits both alike; report medians.
  const raws: number[] = [];
  const logs: number[] = [];
  for (let r = 0; r < rounds; r++) {
    raws.push(benchRaw(batch));
    logs.push(benchLog(batch));
  }
  const raw = median(raws);
  const log = median(logs);
  const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
  console.log(
    `batch ${String(batch).padStart(3)}: log ${fmt(log)} entries/s, raw write+fdatasync ${fmt(raw)} entries/s, ` +
      `log/raw = ${(log / raw).toFixed(2)} (target ≥ 0.50; medians of ${rounds} alternating runs)`,
  );
}
