import { readFileSync } from 'node:fs';

/**
 * CPU time of the processes that make up the system under test (replicas, portals, brokers;
 * not the load generators), read from /proc so it counts every thread (LMDB's, libuv's, the
 * snapshot worker's). Divided by the operations of a run it gives the cost per operation,
 * which a noisy shared machine disturbs far less than throughput (issue #12).
 */
const TICKS_PER_SECOND = 100; // USER_HZ: 100 on every Linux this runs on

/** User + system CPU of one process so far, in milliseconds; undefined once it is gone. */
export function cpuTime_ms(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1000) / TICKS_PER_SECOND;
}

/** Measures the CPU the given processes spend between start() and stop(). */
export class CpuMeter {
  private readonly startedAt = new Map<number, number>();

  constructor(private readonly pids: () => readonly number[]) {}

  start(): void {
    this.startedAt.clear();
    for (const pid of this.pids()) {
      const t = cpuTime_ms(pid);
      if (t !== undefined) this.startedAt.set(pid, t);
    }
  }

  /** Milliseconds of CPU since start(), summed over the processes alive at both ends; undefined if never started. */
  stop(): number | undefined {
    if (this.startedAt.size === 0) return undefined;
    let total = 0;
    for (const [pid, before] of this.startedAt) {
      const after = cpuTime_ms(pid);
      if (after !== undefined) total += after - before;
    }
    return total;
  }
}
