// V8's garbage-collection pauses per process, read from its --trace-gc lines: for each process and
// each kind of collection, how many, their total, p50, p99 (the bench's own histogram, within
// 1.6 %) and longest pause, and the share of the traced span they took. A replica's stall line
// names a GC pause only when Node has delivered its entry by the next tick; this counts every one.
// Made for issue #18: at 512 writes in flight it showed each storage process pausing for a
// scavenge 10-13 times a second, p50 about 6 ms, p99 23-30 ms, the longest up to 90 ms, 7-8 % of
// the time (docs/bench.md, "What a stall is made of").
//   ECOM_CHILD_NODE_ARGS=--trace-gc ecom bench run put -c 512 --keep
//   node --import tsx bench/gc-pauses.ts FOLDER|FILE...
// A folder is searched for *.log files (the kept bench folder holds each process's log).
import { createReadStream, lstatSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Histogram } from '../src/bench/histogram.js';
import { refusal } from './script-args.js';

/** Log files read at most, so a wrong folder (a home directory) ends quickly and says why. */
const MAX_FILES = 10_000;

// [pid:isolate]  time ms: Kind before (committed) -> after (committed) MB, pause / external ms ...
const TRACE_LINE = /^\[(\d+):0x[0-9a-f]+\]\s+(\d+) ms: ([A-Za-z][A-Za-z -]*?(?: \([a-z ]+\))?) [\d.]+ \([\d.]+\) -> [\d.]+ \([\d.]+\) MB, ([\d.]+) \/ [\d.]+ ms/;

interface Traced {
  readonly file: string;
  readonly pid: number;
  first_ms: number;
  last_ms: number;
  /** Pauses by kind of collection, in fixed memory however long the log. */
  readonly kinds: Map<string, Histogram>;
}

const reason = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? (err as Error).message;

const usage = refusal('gc-pauses', 'node --import tsx bench/gc-pauses.ts FOLDER|FILE...  (logs of processes run with --trace-gc)');

function logFiles(paths: readonly string[]): string[] {
  const files: string[] = [];
  const visit = (path: string, named: boolean): void => {
    if (files.length >= MAX_FILES) usage(`more than ${MAX_FILES} log files under ${paths.join(' ')}: name the bench folder itself`);
    let names: string[] | undefined;
    try {
      // Links inside a folder are not followed into folders, so a loop of links cannot recurse forever.
      names = (named ? statSync(path) : lstatSync(path)).isDirectory() ? readdirSync(path).sort() : undefined;
    } catch (err) {
      // A named path must be readable; one met inside a folder (a socket, a folder of someone else's) is passed over.
      if (named) usage(`cannot read ${path}: ${reason(err)}`);
      return;
    }
    if (names !== undefined) for (const name of names) visit(join(path, name), false);
    else if (named || path.endsWith('.log')) files.push(path);
  };
  for (const path of paths) visit(path, true);
  return files;
}

async function read(file: string, traced: Map<string, Traced>): Promise<void> {
  const lines = createInterface({ input: createReadStream(file, 'latin1'), crlfDelay: Infinity });
  for await (const line of lines) {
    const m = TRACE_LINE.exec(line);
    if (m === null) continue;
    const pid = Number(m[1]);
    const at_ms = Number(m[2]);
    const kindName = m[3]!;
    const pause_ms = Number(m[4]);
    const key = `${file}\0${pid}`;
    let process_ = traced.get(key);
    if (process_ === undefined) traced.set(key, (process_ = { file, pid, first_ms: at_ms, last_ms: at_ms, kinds: new Map() }));
    process_.first_ms = Math.min(process_.first_ms, at_ms);
    process_.last_ms = Math.max(process_.last_ms, at_ms);
    let kind = process_.kinds.get(kindName);
    if (kind === undefined) process_.kinds.set(kindName, (kind = new Histogram()));
    kind.record_ms(pause_ms);
  }
}

const paths = process.argv.slice(2);
if (paths.length === 0) usage('name the logs: a kept bench folder or log files');
for (const path of paths) if (path.startsWith('--')) usage(`"${path}" is not an option of this script; name folders or files`);
const files = logFiles(paths);
const traced = new Map<string, Traced>();
for (const file of files) {
  try {
    await read(file, traced);
  } catch (err) {
    // Found and then unreadable (removed meanwhile, no permission): said, and the others still counted.
    process.stderr.write(`gc-pauses: skipped ${file}: ${reason(err)}\n`);
  }
}
if (traced.size === 0) {
  process.stderr.write(`gc-pauses: no --trace-gc lines in ${files.length} file(s) under ${paths.join(' ')}; run the processes with it, e.g. ECOM_CHILD_NODE_ARGS=--trace-gc ecom bench run put --keep\n`);
  process.exit(1);
}
console.log(`# GC pauses from --trace-gc in ${files.length} file(s); ms; share = total / span of the traced lines`);
console.log(`${'process'.padEnd(36)} ${'kind'.padEnd(22)} ${'count'.padStart(7)} ${'per s'.padStart(6)} ${'total'.padStart(8)} ${'share'.padStart(6)} ${'p50'.padStart(7)} ${'p99'.padStart(7)} ${'max'.padStart(7)}`);
for (const t of [...traced.values()].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.pid - b.pid))) {
  const span_s = Math.max(0.001, (t.last_ms - t.first_ms) / 1_000);
  const name = `${t.file.split('/').slice(-1)[0]} pid ${t.pid}`;
  const kinds = [...t.kinds].map(([kindName, kind]) => ({ kindName, ...kind.summary(), total_ms: kind.sum_us / 1_000 }));
  for (const k of kinds.sort((a, b) => b.total_ms - a.total_ms)) {
    console.log(
      `${name.padEnd(36)} ${k.kindName.padEnd(22)} ${String(k.count).padStart(7)} ${(k.count / span_s).toFixed(1).padStart(6)} ${k.total_ms.toFixed(0).padStart(8)} ${`${((k.total_ms / 1_000 / span_s) * 100).toFixed(1)}%`.padStart(6)} ${k.p50_ms.toFixed(1).padStart(7)} ${k.p99_ms.toFixed(1).padStart(7)} ${k.max_ms.toFixed(1).padStart(7)}`,
    );
  }
}
