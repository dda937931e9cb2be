// Who holds the cores. Samples /proc/PID/task/TID/schedstat (a thread's time on a CPU and waiting
// in a run queue) of every thread of the chosen processes every few milliseconds, then prints each
// thread's share, and for each process's main thread (a Node process's event loop) the windows in
// which it waited longest for a core with the threads that ran meanwhile. A replica's stall line
// says its loop waited; this says for whom. Made for issue #18: at 512 writes in flight it showed
// three storage event loops each runnable nearly all the time on two cores, each waiting about as
// long as it ran, and in every long wait the other two loops on the cores (docs/bench.md, "Who
// holds the cores"). Linux only. Run it beside a benchmark:
//   node --import tsx bench/thread-schedule.ts [--seconds S] [--interval-ms N] [--window-ms N]
//     [--top N] (--match REGEX | PID...)
// e.g. --match 'ecom.js (storage|bench-worker)' while `ecom bench run put -c 512` runs.
import { closeSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import { loadavg } from 'node:os';
import { numberArg, refusal, textArg } from './script-args.js';

/** Threads followed at most: past it, new threads are left out and the report says how many. */
const MAX_THREADS = 1_024;
/** Samples times threads kept at most (two numbers each), so a long run cannot exhaust memory. */
const MAX_CELLS = 20_000_000;
/** New threads (a thread pool growing, a process started late) are looked for this often. */
const RESCAN_MS = 1_000;

interface Thread {
  readonly pid: number;
  readonly tid: number;
  readonly name: string;
  readonly fd: number;
  /** Per sample: µs on a CPU and waiting for one so far, NaN before the thread was found or after it ended. */
  readonly run_us: number[];
  readonly wait_us: number[];
}

const usage = refusal('thread-schedule', 'node --import tsx bench/thread-schedule.ts [--seconds S] [--interval-ms N] [--window-ms N] [--top N] (--match REGEX | PID...)');

const seconds = numberArg('--seconds', 20);
const interval_ms = numberArg('--interval-ms', 5);
const window_ms = numberArg('--window-ms', 100);
const top = numberArg('--top', 5);
const match = textArg('--match');
const VALUED = new Set(['--seconds', '--interval-ms', '--window-ms', '--top', '--match']);
const given = process.argv.slice(2).filter((arg, i, all) => !VALUED.has(arg) && !VALUED.has(all[i - 1] ?? ''));
for (const arg of given) if (!/^\d+$/.test(arg)) usage(`"${arg}" is neither an option nor a process id`);
if (match === undefined && given.length === 0) usage('name the processes: --match REGEX (over their command lines) or their ids');
if (match !== undefined && given.length > 0) usage('give --match or process ids, not both');
let pattern: RegExp | undefined;
try {
  pattern = match === undefined ? undefined : new RegExp(match);
} catch (err) {
  usage(`--match is not a regular expression: ${(err as Error).message}`);
}
const maxSamples = Math.ceil((seconds * 1_000) / interval_ms) + 1;

function commandLine(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').join(' ').trim();
  } catch {
    return undefined;
  }
}

/** The processes to follow: those given, or every other one whose command line matches. */
function chosenProcesses(): Map<number, string> {
  const chosen = new Map<number, string>();
  if (pattern === undefined) {
    for (const text of given) {
      const cmd = commandLine(Number(text));
      if (cmd === undefined) usage(`no process ${text}`);
      chosen.set(Number(text), cmd ?? '');
    }
    return chosen;
  }
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmd = commandLine(Number(entry));
    if (cmd !== undefined && cmd !== '' && pattern.test(cmd)) chosen.set(Number(entry), cmd);
  }
  return chosen;
}

const processes = chosenProcesses();
if (processes.size === 0) {
  process.stderr.write(`thread-schedule: no process's command line matches ${String(pattern)}; start what you want to watch first\n`);
  process.exit(1);
}

const threads: Thread[] = [];
const known = new Set<number>();
let leftOut = 0;
const times: number[] = [];
const buffer = Buffer.alloc(128);

/** Opens the schedstat of every thread of the chosen processes not followed yet. */
function findThreads(): void {
  for (const pid of processes.keys()) {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue; // the process ended
    }
    for (const text of tids) {
      const tid = Number(text);
      if (known.has(tid)) continue;
      if (threads.length >= MAX_THREADS || (threads.length + 1) * maxSamples > MAX_CELLS) {
        leftOut++;
        known.add(tid);
        continue;
      }
      try {
        const fd = openSync(`/proc/${pid}/task/${tid}/schedstat`, 'r');
        const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'latin1').trim();
        const before = new Array<number>(times.length).fill(Number.NaN);
        threads.push({ pid, tid, name: comm, fd, run_us: before, wait_us: [...before] });
        known.add(tid);
      } catch {
        // the thread ended between the listing and the open
      }
    }
  }
}

function sample(): void {
  times.push(performance.now());
  for (const t of threads) {
    let run = Number.NaN;
    let wait = Number.NaN;
    try {
      const length = readSync(t.fd, buffer, 0, buffer.length, 0);
      const [a, b] = buffer.toString('latin1', 0, length).split(' ');
      run = Number(a) / 1_000;
      wait = Number(b) / 1_000;
    } catch {
      // the thread ended: its figures stop here
    }
    t.run_us.push(run);
    t.wait_us.push(wait);
  }
}

/** Growth of a cumulative series between two samples, counting only where both are known. */
function grew(series: readonly number[], from: number, to: number): number {
  const a = series[from];
  const b = series[to];
  return a === undefined || b === undefined || Number.isNaN(a) || Number.isNaN(b) ? 0 : b - a;
}

/** The last sample index at which the series is known, from the end. */
function lastKnown(series: readonly number[]): number {
  for (let i = series.length - 1; i >= 0; i--) if (!Number.isNaN(series[i]!)) return i;
  return -1;
}
function firstKnown(series: readonly number[]): number {
  return series.findIndex((v) => !Number.isNaN(v));
}

function label(t: Thread): string {
  const cmd = processes.get(t.pid) ?? '';
  const short = cmd.length > 60 ? `${cmd.slice(0, 57)}...` : cmd;
  return `${t.pid}/${t.tid} ${t.tid === t.pid ? 'main' : t.name}  (${short})`;
}

function report(): void {
  for (const t of threads) closeSync(t.fd);
  const n = times.length;
  if (n < 2) {
    process.stderr.write('thread-schedule: stopped before two samples were taken; nothing to report\n');
    process.exit(1);
  }
  const span_ms = times[n - 1]! - times[0]!;
  console.log(`# ${process.argv.slice(1).join(' ')}`);
  console.log(
    `# ${processes.size} processes, ${threads.length} threads${leftOut > 0 ? ` (${leftOut} more left out: over ${MAX_THREADS} threads or ${MAX_CELLS} cells)` : ''}; ${n} samples over ${(span_ms / 1_000).toFixed(1)} s, one every ${(span_ms / (n - 1)).toFixed(1)} ms; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
  );
  const totals = threads
    .map((t) => {
      const from = firstKnown(t.run_us);
      const to = lastKnown(t.run_us);
      return { t, run: from < 0 ? 0 : grew(t.run_us, from, to) / 1_000, wait: from < 0 ? 0 : grew(t.wait_us, from, to) / 1_000 };
    })
    .sort((a, b) => b.run - a.run);
  console.log('\nms on a CPU   ms waiting   cores   thread');
  for (const { t, run, wait } of totals) {
    if (run < 1 && wait < 1) continue;
    console.log(`${run.toFixed(0).padStart(11)}  ${wait.toFixed(0).padStart(11)}  ${(run / span_ms).toFixed(2).padStart(6)}   ${label(t)}`);
  }
  const all = totals.reduce((sum, x) => sum + x.run, 0);
  console.log(`${all.toFixed(0).padStart(11)}  ${''.padStart(11)}  ${(all / span_ms).toFixed(2).padStart(6)}   all of them`);
  const step = Math.max(1, Math.round(window_ms / (span_ms / (n - 1))));
  for (const main of threads.filter((t) => t.tid === t.pid)) {
    // The windows with the most waiting, not overlapping, longest first.
    const windows: Array<{ at: number; wait: number }> = [];
    for (let i = 0; i + step < n; i++) windows.push({ at: i, wait: grew(main.wait_us, i, i + step) / 1_000 });
    windows.sort((a, b) => b.wait - a.wait);
    const picked: typeof windows = [];
    for (const w of windows) {
      if (picked.length === top || w.wait <= 0) break;
      if (picked.every((p) => Math.abs(p.at - w.at) >= step)) picked.push(w);
    }
    if (picked.length === 0) continue;
    console.log(`\nlongest waits of ${label(main)}:`);
    for (const w of picked) {
      const length_ms = times[w.at + step]! - times[w.at]!;
      const ran = grew(main.run_us, w.at, w.at + step) / 1_000;
      const others = threads
        .filter((t) => t !== main)
        .map((t) => ({ t, ran: grew(t.run_us, w.at, w.at + step) / 1_000 }))
        .filter((x) => x.ran >= 1)
        .sort((a, b) => b.ran - a.ran)
        .slice(0, 6)
        .map((x) => `${x.t.pid}/${x.t.tid === x.t.pid ? 'main' : x.t.name} ${x.ran.toFixed(0)}`);
      console.log(
        `  at ${((times[w.at]! - times[0]!) / 1_000).toFixed(2)} s, ${length_ms.toFixed(0)} ms: waited ${w.wait.toFixed(0)}, ran ${ran.toFixed(0)}; meanwhile ran (ms): ${others.join(', ') || 'no other followed thread'}`,
      );
    }
  }
}

findThreads();
let lastScan = performance.now();
sample();
const timer = setInterval(() => {
  if (performance.now() - lastScan >= RESCAN_MS) {
    findThreads();
    lastScan = performance.now();
  }
  sample();
  if (times.length >= maxSamples) stop();
}, interval_ms);

function stop(): void {
  clearInterval(timer);
  report();
  process.exit(0);
}
// Ctrl-C reports what was sampled so far.
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
