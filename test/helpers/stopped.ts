import { readdirSync, readFileSync } from 'node:fs';

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
  return readdirSync(`/proc/${pid}/task`).map((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses; the state follows its last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  });
}
