import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { listensOn } from './port-owner.js';
import { childPortDepth } from './ports.js';

/** The `ecom` entry point, for starting parts of the system as separate processes. */
export const ECOM_BIN = fileURLToPath(new URL('../../bin/ecom.js', import.meta.url));

export interface ChildOptions {
  /** Shown before each line the child prints, e.g. `admin-55006`. */
  readonly name: string;
  /** Where the child's output lines go; the parent's stderr by default. null discards them. */
  readonly onLine?: ((name: string, line: string) => void) | null;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

export interface EcomChild {
  readonly name: string;
  readonly pid: number;
  readonly process: ChildProcess;
  /** Resolves with the exit code (or the signal name) when the process has ended. */
  readonly exited: Promise<number | string>;
  /** SIGTERM, then SIGKILL if it is still running after `grace_ms`; resolves once it has exited. */
  stop(grace_ms?: number): Promise<number | string>;
  /** SIGKILL at once, like a crash. */
  kill(): Promise<number | string>;
  /** The last lines the child printed (at most OUTPUT_TAIL_LINES), to say why it failed. */
  recentOutput(): readonly string[];
  /** Calls `listener` with each line the child prints from now on; returns what stops it. */
  watchLines(listener: (line: string) => void): () => void;
}

/** How many of a child's last output lines are kept for error messages. */
const OUTPUT_TAIL_LINES = 20;

/** Set in children started by spawnEcom: they stop when their parent's end of stdin closes. */
export const EXIT_WITH_PARENT_ENV = 'ECOM_EXIT_WITH_PARENT';

/**
 * In a child started by spawnEcom, stops the process (through its SIGTERM handler) once the
 * parent is gone, so that a parent killed with SIGKILL leaves nothing behind.
 */
export function exitWithParent(): void {
  if (process.env[EXIT_WITH_PARENT_ENV] !== '1') return;
  process.stdin.on('data', () => undefined);
  process.stdin.on('end', () => process.kill(process.pid, 'SIGTERM'));
  process.stdin.on('error', () => process.kill(process.pid, 'SIGTERM'));
}

const running = new Set<EcomChild>();
let exitHookInstalled = false;

/** A parent that dies must not leave children behind: kill whatever is still running on exit. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of running) child.process.kill('SIGKILL');
  });
}

/** Up to this many cores, ecom's portals and broker run V8's garbage collector on their main thread only. */
export const SINGLE_THREADED_GC_MAX_CORES = 2;

/** The commands whose processes collect garbage on their main thread on a small machine (bench-floor-node stands in for the portals and broker). */
const SINGLE_THREADED_GC_COMMANDS: ReadonlySet<string> = new Set(['admin-server', 'order-server', 'broker', 'bench-floor-node']);

/**
 * The node flags an ecom child starts with. ecom runs more busy processes than a small machine
 * has cores, and V8's parallel garbage collection stops the main thread until its helper
 * threads finish their share: a helper that waits for a core behind another process stretches
 * the pause (a portal's scavenges took 10–63 ms on two cores). There the portals and the broker
 * collect on their main thread alone, which cut mqtt mode's p99 at 1,000 writes/s by two to
 * three times. Storage replicas and load generators keep the helpers: the same switch did not
 * help them. docs/bench.md ("mqtt mode (issue #17)", under "Levers taken") has the figures.
 */
export function defaultChildNodeArgs(command: string | undefined, cores: number = availableParallelism()): string[] {
  return cores <= SINGLE_THREADED_GC_MAX_CORES && command !== undefined && SINGLE_THREADED_GC_COMMANDS.has(command) ? ['--single-threaded-gc'] : [];
}

/** Starts `node bin/ecom.js ...args` as a child process. */
export function spawnEcom(args: readonly string[], options: ChildOptions): EcomChild {
  // ECOM_CHILD_NODE_ARGS passes flags to the children's node, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile them.
  // They come last, so they override the defaults (e.g. --no-single-threaded-gc).
  const extraArgs = (process.env.ECOM_CHILD_NODE_ARGS ?? '').split(/\s+/).filter((a) => a !== '');
  return spawnChild(process.execPath, [...defaultChildNodeArgs(args[0]), ...extraArgs, ECOM_BIN, ...args], options, false);
}

/**
 * Starts any program (mosquitto, etcd) as a child process with the same bookkeeping as
 * spawnEcom: output lines named, killed when this process exits. Such a program does not watch
 * its stdin as ecom children do, so a guard stands in for it when this process is killed with
 * SIGKILL (see guardAgainstOrphan).
 */
export function spawnProgram(file: string, args: readonly string[], options: ChildOptions): EcomChild {
  return spawnChild(file, args, options, true);
}

/**
 * The exit hook cannot run when this process is SIGKILLed, and an orphaned etcd or mosquitto
 * would keep its ports and data. A tiny shell holds a pipe from us: when we die, however we
 * die, the pipe closes, its `read` returns and it kills the child. It is killed itself when the
 * child exits, and keeps neither this process nor its pipe alive.
 */
function guardAgainstOrphan(child: ChildProcess): void {
  if (child.pid === undefined || !existsSync('/bin/sh')) return;
  const guard = spawn('/bin/sh', ['-c', `read _line; kill -9 ${child.pid} 2>/dev/null`], { stdio: ['pipe', 'ignore', 'ignore'] });
  guard.unref();
  (guard.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  child.once('exit', () => guard.kill('SIGKILL'));
}

function spawnChild(file: string, args: readonly string[], options: ChildOptions, guard: boolean): EcomChild {
  installExitHook();
  const proc = spawn(file, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env, [EXIT_WITH_PARENT_ENV]: '1', ...childPortDepth() },
    // The child watches this pipe: it closes when the parent dies, even by SIGKILL.
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  if (proc.pid === undefined) throw new Error(`could not start ${options.name}: ${file}`);
  if (guard) guardAgainstOrphan(proc);
  const onLine = options.onLine === undefined ? (name: string, line: string) => process.stderr.write(`[${name}] ${line}\n`) : options.onLine;
  const tail: string[] = [];
  const watchers = new Set<(line: string) => void>();
  for (const stream of [proc.stdout, proc.stderr]) {
    const lines = createInterface({ input: stream });
    lines.on('line', (line) => {
      tail.push(line);
      if (tail.length > OUTPUT_TAIL_LINES) tail.shift();
      onLine?.(options.name, line);
      for (const watcher of watchers) watcher(line);
    });
  }
  const exited = new Promise<number | string>((resolve) => {
    proc.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
  const child: EcomChild = {
    name: options.name,
    pid: proc.pid,
    process: proc,
    exited,
    async stop(grace_ms = 5_000) {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), grace_ms);
        await exited;
        clearTimeout(timer);
      }
      return exited;
    },
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      return exited;
    },
    recentOutput: () => [...tail],
    watchLines(listener) {
      watchers.add(listener);
      return () => watchers.delete(listener);
    },
  };
  running.add(child);
  void exited.then(() => running.delete(child));
  return child;
}

/**
 * Resolves once something accepts TCP connections on host:port; rejects after `timeout_ms`, or
 * as soon as the process meant to listen has ended: given as a child, the error then carries its
 * exit status and last output lines, so a failed start says why.
 *
 * Given the child, the port must be the child's (or a process's it started): another program
 * that already holds the port is not taken for the child, which then fails to bind and exits,
 * and that exit is the error (util/port-owner.ts).
 *
 * Given the child, it tries again as soon as the child prints a line (each ecom process logs one
 * once it listens), and otherwise only every 250 ms: `ecom up` waits on nine ports while all its
 * processes load, and trying each every 50 ms cost it about a quarter of a second of CPU.
 */
export async function waitForPort(host: string, port: number, timeout_ms: number, listener?: (() => boolean) | EcomChild): Promise<void> {
  const child = typeof listener === 'object' ? listener : undefined;
  const alive = typeof listener === 'object' ? () => listener.process.exitCode === null && listener.process.signalCode === null : listener;
  const deadline = Date.now() + timeout_ms;
  let wake: (() => void) | undefined;
  let lines = 0;
  const unwatch = child?.watchLines(() => {
    lines++;
    wake?.();
  });
  // A child that exits is noticed at once, not at the next try.
  void child?.exited.then(() => wake?.());
  try {
    for (;;) {
      const linesBefore = lines;
      const ok = await new Promise<boolean>((resolve) => {
        const socket = connect({ host, port });
        socket.once('connect', () => {
          socket.destroy();
          resolve(true);
        });
        socket.once('error', () => resolve(false));
      });
      // Something answers; given the child, it must be the child (or a process it started).
      const owned = ok && child !== undefined ? listensOn(child.pid, port) !== false : ok;
      if (owned) return;
      if (alive !== undefined && !alive()) {
        const why = child !== undefined ? ` (${child.name}, status ${String(child.process.exitCode ?? child.process.signalCode)}); its last lines:\n${child.recentOutput().join('\n')}` : '';
        throw new Error(`the process meant to listen on ${host}:${port} has exited${why}`);
      }
      if (Date.now() > deadline) {
        if (ok && child !== undefined) throw new Error(`${host}:${port} answers, but not from ${child.name} (pid ${child.pid}) after ${timeout_ms} ms: another program holds the port; stop it or choose another port`);
        throw new Error(`nothing listens on ${host}:${port} after ${timeout_ms} ms`);
      }
      // A line printed while that try was under way may say the port is open now.
      if (lines !== linesBefore) continue;
      // Polling a port has no event to await but the child's output; the interval is the fallback.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, child !== undefined ? 250 : 50);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  } finally {
    unwatch?.();
  }
}
