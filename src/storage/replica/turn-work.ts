import { openSync, readSync } from 'node:fs';
import { performance, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import type { EventLoopSplit } from '../common/protocol.js';

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
  readonly loop?: EventLoopSplit;
}

interface ProcessSample {
  readonly cpu: NodeJS.CpuUsage;
  /** The main thread's nanoseconds on a CPU and waiting in a run queue, or undefined off Linux. */
  readonly schedule: { readonly running_ns: number; readonly waiting_ns: number } | undefined;
}

/**
 * Samples of the process's CPU time and its main thread's schedule, shared by every replica
 * the process hosts: their ticks come in the same turn of the event loop, and each sample is a
 * getrusage and a read of /proc, paid 100 times a second per replica otherwise (2-3 % of a
 * busy replica's profile, most of it opening /proc/self/schedstat afresh each time).
 */
class ProcessClock {
  /** The sample of this turn of the event loop, and who has had it. */
  private current: { readonly sample: ProcessSample; readonly takers: Set<object> } | undefined;
  private schedstat: number | undefined | null = undefined;
  private readonly buffer = Buffer.alloc(128);

  /**
   * A sample for `taker`: the one taken earlier in this turn of the event loop by another, else
   * a fresh one (a taker asking twice in one turn wants what happened in between). The turn is
   * over at the loop's next check phase, after every timer due in it has run.
   */
  sample(taker: object): ProcessSample {
    if (this.current !== undefined && !this.current.takers.has(taker)) {
      this.current.takers.add(taker);
      return this.current.sample;
    }
    const fresh = { sample: { cpu: process.cpuUsage(), schedule: this.mainThreadSchedule() }, takers: new Set([taker]) };
    if (this.current === undefined) setImmediate(() => (this.current = undefined));
    this.current = fresh;
    return fresh.sample;
  }

  private mainThreadSchedule(): ProcessSample['schedule'] {
    try {
      // Opened once: a /proc file is read from offset 0 again for fresh values.
      if (this.schedstat === undefined) this.schedstat = openSync('/proc/self/schedstat', 'r');
      if (this.schedstat === null) return undefined;
      const length = readSync(this.schedstat, this.buffer, 0, this.buffer.length, 0);
      const [running, waiting] = this.buffer.toString('latin1', 0, length).split(' ');
      return { running_ns: Number(running), waiting_ns: Number(waiting) };
    } catch {
      this.schedstat = null;
      return undefined;
    }
  }
}

const processClock = new ProcessClock();

export class TurnWork {
  private readonly longest = new Map<WorkKind, number>();
  private readonly total = new Map<WorkKind, number>();
  private previous = processClock.sample(this);
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
    const before = this.previous;
    const after = (this.previous = processClock.sample(this));
    const used_us = after.cpu.user - before.cpu.user + (after.cpu.system - before.cpu.system);
    const loop =
      before.schedule === undefined || after.schedule === undefined
        ? undefined
        : { running_ms: Math.round((after.schedule.running_ns - before.schedule.running_ns) / 1e6), waitingForCpu_ms: Math.round((after.schedule.waiting_ns - before.schedule.waiting_ns) / 1e6) };
    return { longest_ms, total_ms, cpu_ms: Math.round(used_us / 1000), ...(loop === undefined ? {} : { loop }) };
  }

  close(): void {
    this.gc.disconnect();
  }

  private noteGc(entries: readonly PerformanceEntry[]): void {
    for (const entry of entries) this.note('gc', entry.duration);
  }
}
