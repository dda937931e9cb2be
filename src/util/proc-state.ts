import { existsSync, readdirSync, readFileSync } from 'node:fs';

/** The state letter of a /proc stat line (R, S, T, Z...): it follows the command name's last ')', as that name may hold spaces and parentheses. */
function stateIn(stat: string): string {
  const end = stat.lastIndexOf(')');
  return stat.slice(end + 2, end + 3);
}

/** The process's state letter, or undefined once it is gone. */
export function processState(pid: number): string | undefined {
  try {
    return stateIn(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * kill(SIGSTOP) returns before the process has stopped: the kernel stops a multi-threaded
 * process only once one of its threads takes the signal, and until then the others run on.
 * Measured here right after kill() returned, some thread of an etcd still ran in 34 % of tries
 * on an idle machine and 59 % beside two busy loops: enough for it to commit a write a test
 * meant to freeze out. This resolves once every thread of `pid` is stopped, or the process is
 * gone; off Linux (no /proc) at once. It looks every millisecond, leaving the cores to the
 * process that has to take the signal.
 */
export async function waitUntilStopped(pid: number, timeout_ms = 5_000): Promise<void> {
  if (!existsSync('/proc/self/task')) return;
  const deadline = Date.now() + timeout_ms;
  for (;;) {
    const states = threadStates(pid);
    const running = states?.filter((state) => state !== 'T' && state !== 't') ?? [];
    if (running.length === 0) return;
    if (Date.now() > deadline) throw new Error(`process ${pid} did not stop within ${timeout_ms} ms (thread states: ${running.join('')})`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** The state of each thread of `pid`, or undefined once it is gone. */
function threadStates(pid: number): string[] | undefined {
  try {
    return readdirSync(`/proc/${pid}/task`).map((tid) => stateIn(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')));
  } catch {
    return undefined;
  }
}

/** `pid` and every process below it, parents before their children, read from each process's parent in /proc/PID/stat. */
export function processTree(pid: number): number[] {
  const childrenOf = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone since the listing
    }
    // The parent's pid is the second field after the command name, which may hold spaces and ')'.
    const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    childrenOf.set(parent, [...(childrenOf.get(parent) ?? []), Number(entry)]);
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) tree.push(...(childrenOf.get(tree[i]!) ?? []));
  return tree;
}
