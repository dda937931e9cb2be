import { readFileSync } from 'node:fs';
import { performance, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';

/**
 * The longest piece of each kind of work on the event loop (applying a batch, installing a
 * snapshot, a garbage collection pause) since the last tick, the time each kind took in all
 * (Readies, client requests and peer messages too), and the CPU time the process got
 * meanwhile, so that a replica which reports its event loop held up can say what held it: its
 * own work, V8's collector, or neither (then the machine kept it from a core: CPU time well under
 * the stall). The log's fsync runs off the event loop, so it holds up answers, never ticks, and
 * is not counted.
 *
 * Where Linux tells it (/proc/self/schedstat: the main thread's time on a CPU and waiting in a
 * run queue), the stall is also split three ways: the event loop running, runnable but waiting
 * for a core, and neither, that is blocked in the kernel (a synchronous fsync, unlink or write).
 */
export type WorkKind = 'apply' | 'restore' | 'gc' | 'ready' | 'requests' | 'peers';

export interface TurnReport {
  readonly longest_ms: Partial<Record<WorkKind, number>>;
  /**
   * Wall time of each kind in all, so a stall line shows what filled it. `ready` (a turn of the
   * Raft driver) holds its `apply`; `requests` and `peers` count handling what arrived, not
   * reading and decoding it; GC pauses may fall inside any of them.
   */
  readonly total_ms: Partial<Record<WorkKind, number>>;
  /** CPU time (user + system, every thread of the process) since the last take(). */
  readonly cpu_ms: number;
  /** The event loop's thread since the last take(): on a CPU, and runnable but waiting for one (Linux only). */
  readonly loop?: { readonly running_ms: number; readonly waitingForCpu_ms: number };
}

/** The main thread's nanoseconds on a CPU and waiting in a run queue, or undefined off Linux. */
function mainThreadSchedule(): { running_ns: number; waiting_ns: number } | undefined {
  try {
    const [running, waiting] = readFileSync('/proc/self/schedstat', 'latin1').split(' ');
    return { running_ns: Number(running), waiting_ns: Number(waiting) };
  } catch {
    return undefined;
  }
}

export class TurnWork {
  private readonly longest = new Map<WorkKind, number>();
  private readonly total = new Map<WorkKind, number>();
  private cpu = process.cpuUsage();
  private schedule = mainThreadSchedule();
  /** GC pauses reach JavaScript after the collection (Node queues their entries): takeRecords() collects the ones already queued. */
  private readonly gc = new PerformanceObserver((list) => this.noteGc(list.getEntries()));

  constructor() {
    this.gc.observe({ entryTypes: ['gc'] });
  }

  note(kind: WorkKind, ms: number): void {
    if (ms > (this.longest.get(kind) ?? 0)) this.longest.set(kind, ms);
    this.total.set(kind, (this.total.get(kind) ?? 0) + ms);
  }

  /** Runs `work` and notes its wall time as `kind`. */
  timed<T>(kind: WorkKind, work: () => T): T {
    const started = performance.now();
    try {
      return work();
    } finally {
      this.note(kind, performance.now() - started);
    }
  }

  /** What was noted since the last call, in whole milliseconds, then forgets it. */
  take(): TurnReport {
    this.noteGc(this.gc.takeRecords());
    const longest_ms: Partial<Record<WorkKind, number>> = {};
    for (const [kind, ms] of this.longest) longest_ms[kind] = Math.round(ms);
    this.longest.clear();
    const total_ms: Partial<Record<WorkKind, number>> = {};
    for (const [kind, ms] of this.total) total_ms[kind] = Math.round(ms);
    this.total.clear();
    // One getrusage per tick: the difference is taken here rather than by process.cpuUsage(previous).
    const now = process.cpuUsage();
    const used_us = now.user - this.cpu.user + (now.system - this.cpu.system);
    this.cpu = now;
    const before = this.schedule;
    const after = (this.schedule = before === undefined ? undefined : mainThreadSchedule());
    const loop = before === undefined || after === undefined ? undefined : { running_ms: Math.round((after.running_ns - before.running_ns) / 1e6), waitingForCpu_ms: Math.round((after.waiting_ns - before.waiting_ns) / 1e6) };
    return { longest_ms, total_ms, cpu_ms: Math.round(used_us / 1000), ...(loop === undefined ? {} : { loop }) };
  }

  close(): void {
    this.gc.disconnect();
  }

  private noteGc(entries: readonly PerformanceEntry[]): void {
    for (const entry of entries) this.note('gc', entry.duration);
  }
}
