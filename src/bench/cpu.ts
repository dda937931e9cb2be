import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time of the processes that make up the system under test (replicas, portals, brokers;
 * not the load generators), read from /proc so it counts every thread (LMDB's, libuv's, the
 * snapshot worker's). Divided by the operations of a run it gives the cost per operation,
 * which a noisy shared machine disturbs far less than throughput (issue #12).
 */
const TICKS_PER_SECOND = 100; // USER_HZ: 100 on every Linux this runs on

/** The fields of /proc/PID/stat from the third (state) on; undefined once the process is gone. */
function statFields(pid: number | 'self'): string[] | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** User + system CPU of one process so far, in milliseconds; undefined once it is gone. */
export function cpuTime_ms(pid: number): number | undefined {
  const fields = statFields(pid);
  return fields === undefined ? undefined : ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
}

/**
 * User + system CPU of this process's children that have exited and been waited for, in
 * milliseconds (cutime + cstime): the difference across one short-lived child's run is its cost.
 */
export function exitedChildrenCpuTime_ms(): number {
  const fields = statFields('self');
  if (fields === undefined) throw new Error('/proc/self/stat cannot be read');
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / TICKS_PER_SECOND;
}

/**
 * Context switches of every thread of a process so far (voluntary and not), from
 * /proc/PID/task/TID/status; undefined once it is gone. A Raft round on this machine costs
 * wake-ups more than computation (docs/bench.md), so their count per operation is a figure of
 * its own, and steadier than CPU time on a busy machine.
 */
export function contextSwitches(pid: number): number | undefined {
  let total = 0;
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      for (const match of status.matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)$/gm)) total += Number(match[1]);
    }
  } catch {
    return undefined;
  }
  return total;
}

/**
 * Read and write system calls of a process so far, every thread (socket and file calls, from
 * /proc/PID/io); undefined once it is gone. Like the context switches, a count the machine's
 * load moves little: two builds compare by it where their latencies cannot.
 */
export function systemCalls(pid: number): number | undefined {
  let io: string;
  try {
    io = readFileSync(`/proc/${pid}/io`, 'utf8');
  } catch {
    return undefined;
  }
  const count = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)$`, 'm').exec(io)?.[1] ?? NaN);
  const total = count('syscr') + count('syscw');
  return Number.isFinite(total) ? total : undefined;
}

export interface SystemCost {
  readonly cpu_ms: number;
  readonly contextSwitches: number;
  /** NaN when /proc does not say (another user's process). */
  readonly systemCalls: number;
}

/** The CPU of the processes of one name (see processName) between start() and stop(). */
export interface NamedCpu {
  readonly process: string;
  readonly count: number;
  readonly cpu_ms: number;
}

/** A process's command line, from /proc; undefined once it is gone. */
export function commandLine(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return undefined;
  }
}

/** What follows ecom's own script on a command line (its command first), or undefined for another program. */
export function ecomArguments(argv: readonly string[]): string[] | undefined {
  const bin = argv.findIndex((arg) => /(^|\/)ecom(\.js)?$/.test(arg));
  return bin < 0 ? undefined : argv.slice(bin + 1);
}

/**
 * What a process is, for a reader of the figures: the ecom command it runs ("admin-server",
 * "broker", "bench-worker"), else its program's name ("mosquitto", "etcd"); undefined once gone.
 */
export function processName(pid: number): string | undefined {
  const argv = commandLine(pid);
  if (argv === undefined) return undefined;
  const command = ecomArguments(argv)?.[0];
  if (command !== undefined && command !== '') return command;
  return argv[0]?.split('/').pop() || undefined;
}

/** Measures the CPU and context switches the given processes spend between start() and stop(). */
export class CpuMeter {
  private readonly startedAt = new Map<number, SystemCost & { readonly name: string }>();

  constructor(private readonly pids: () => readonly number[]) {}

  start(): void {
    this.startedAt.clear();
    for (const pid of this.pids()) {
      const cost = costOf(pid);
      if (cost !== undefined) this.startedAt.set(pid, { ...cost, name: processName(pid) ?? `pid ${pid}` });
    }
  }

  /**
   * CPU and context switches since start(), summed over the processes alive at both ends, and
   * the CPU of each kind of process (busiest first); undefined if never started.
   */
  stop(): (SystemCost & { readonly byProcess: readonly NamedCpu[] }) | undefined {
    if (this.startedAt.size === 0) return undefined;
    let cpu_ms = 0;
    let switches = 0;
    let calls = 0;
    const byName = new Map<string, { count: number; cpu_ms: number }>();
    for (const [pid, before] of this.startedAt) {
      const after = costOf(pid);
      if (after === undefined) continue;
      const spent_ms = after.cpu_ms - before.cpu_ms;
      cpu_ms += spent_ms;
      switches += after.contextSwitches - before.contextSwitches;
      calls += after.systemCalls - before.systemCalls;
      const named = byName.get(before.name) ?? { count: 0, cpu_ms: 0 };
      named.count += 1;
      named.cpu_ms += spent_ms;
      byName.set(before.name, named);
    }
    const byProcess = [...byName].map(([process, named]) => ({ process, ...named })).sort((a, b) => b.cpu_ms - a.cpu_ms);
    return { cpu_ms, contextSwitches: switches, systemCalls: calls, byProcess };
  }
}

function costOf(pid: number): SystemCost | undefined {
  const cpu_ms = cpuTime_ms(pid);
  const switches = contextSwitches(pid);
  return cpu_ms === undefined || switches === undefined ? undefined : { cpu_ms, contextSwitches: switches, systemCalls: systemCalls(pid) ?? NaN };
}
