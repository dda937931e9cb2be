import { readdirSync, readFileSync } from 'node:fs';

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
 * On a loaded machine that takes milliseconds, enough for etcd to commit a write a test meant
 * to freeze out. This resolves once every thread of `pid` is in the stopped state.
 */
export async function waitUntilStopped(pid: number, timeout_ms = 5_000): Promise<void> {
  const deadline = Date.now() + timeout_ms;
  for (;;) {
    const running = threadStates(pid).filter((state) => state !== 'T' && state !== 't');
    if (running.length === 0) return;
    if (Date.now() > deadline) throw new Error(`process ${pid} did not stop within ${timeout_ms} ms (thread states: ${running.join('')})`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

function threadStates(pid: number): string[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => stateIn(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')));
}
