import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { PortalClient } from '../client/portal-client.js';
import { freeLocalTopology } from '../storage/common/topology.js';
import { freePort } from '../util/ports.js';
import { ECOM_BIN, spawnEcom, waitForPort, type EcomChild } from '../util/processes.js';
import { commandLine, cpuTime_ms, ecomArguments, exitedChildrenCpuTime_ms } from './cpu.js';
import { fmtMs } from './machine.js';
import { processTree } from '../util/proc-state.js';

/**
 * `ecom bench startup` (issue #18 item 6): how long `ecom up` takes to serve, stage by stage,
 * and how long a one-shot client command takes against the running system.
 *
 * Each run starts `ecom up` as a user does, but on free ports and in a fresh data folder, and
 * reads the stages from its log lines. "Serving" is measured from outside: the first answer to
 * a RetrieveClient through AdminPortal and a RetrieveOrder through OrderPortal, both. The
 * probe is a call from this process, not a one-shot command, because a one-shot costs a
 * quarter of a second of CPU and would compete with the start it measures.
 */

const SYSTEM_IS_UP = 'system is up';

/** The stages `ecom up` logs, in the order a start normally passes them. */
const STAGES: ReadonlyArray<{ readonly name: string; readonly matches: (msg: string, from: string | undefined) => boolean }> = [
  { name: 'up loaded', matches: (_msg, from) => from === undefined },
  { name: 'broker listening', matches: (msg) => msg === 'MQTT broker is listening' },
  { name: 'replicas listening', matches: (msg) => /^storage replicas listening: (\d+)\/\1$/.test(msg) },
  { name: 'leaders', matches: (msg) => msg.startsWith('every partition has a leader') },
  { name: 'AdminPortal serving', matches: (msg) => msg === 'AdminPortal server is serving' },
  { name: 'OrderPortal serving', matches: (msg) => msg === 'OrderPortal server is serving' },
  { name: SYSTEM_IS_UP, matches: (msg) => msg.startsWith('system is up') },
];

export interface StartupRun {
  /** From starting `ecom up` until both portals answered a call through the storage tier. */
  readonly serving_ms: number;
  /** When each stage's log line was written, from the start of `ecom up`; a stage not seen is absent. */
  readonly stages: Readonly<Record<string, number>>;
  /** CPU the whole process tree of `ecom up` had spent when it served: steadier than wall time on a busy machine. */
  readonly cpu_ms: number;
  readonly processes: number;
  /** That CPU by process, named by its ecom command (`up`, `storage 1`, `admin-server 55006`, ...). */
  readonly cpuByProcess: Readonly<Record<string, number>>;
  /** From Ctrl-C (SIGINT) to `ecom up` having exited. */
  readonly stop_ms: number;
}

export interface StartupResult {
  readonly runs: StartupRun[];
  /** The wall time of each one-shot command, in the order they ran. */
  readonly oneShot_ms: number[];
  /** The CPU time (user + system) of each, in the same order: steadier than wall time on a busy machine; in steps of 10 ms (Linux counts CPU in ticks). */
  readonly oneShotCpu_ms: number[];
  readonly oneShotCommand: string;
}

export interface StartupOptions {
  readonly runs: number;
  readonly oneShots: number;
  readonly say: (line: string) => void;
  readonly aborted: () => boolean;
  /** Holds the running `ecom up`, so an interrupted bench stops it. */
  readonly own: (thing: { stop(): Promise<void> }) => void;
}

/** The one-shot command timed against each running system (its port added). */
const ONE_SHOT = ['admin', 'get-client', '1'] as const;

/** How long a start may take before the run fails: far beyond any healthy start. */
const START_TIMEOUT_MS = 60_000;

export async function measureStartup(folder: string, options: StartupOptions): Promise<StartupResult> {
  const runs: StartupRun[] = [];
  const oneShot_ms: number[] = [];
  const oneShotCpu_ms: number[] = [];
  for (let i = 0; i < options.runs && !options.aborted(); i++) {
    const up = await startUp(join(folder, `up-${i + 1}`));
    options.own(up);
    try {
      const serving = await servingAfter(up);
      options.say(describeStart(i + 1, options.runs, serving, up.stages));
      for (let n = 0; n < options.oneShots && !options.aborted(); n++) {
        const shot = await oneShot([...ONE_SHOT, '--port', String(up.adminPort)]);
        oneShot_ms.push(shot.wall_ms);
        oneShotCpu_ms.push(shot.cpu_ms);
      }
      const stop_ms = await up.interrupt();
      options.say(`  stopped by Ctrl-C (SIGINT) in ${seconds(stop_ms)}`);
      runs.push({ ...serving, stages: { ...up.stages }, stop_ms });
    } finally {
      await up.stop();
    }
  }
  const result = { runs, oneShot_ms, oneShotCpu_ms, oneShotCommand: `ecom ${ONE_SHOT.join(' ')}` };
  for (const line of describeStartup(result)) options.say(line);
  return result;
}

interface RunningUp {
  readonly child: EcomChild;
  readonly startedAt: number;
  readonly adminPort: number;
  readonly orderPort: number;
  readonly stages: Record<string, number>;
  /** Resolves once `ecom up` has logged that the system is up. */
  readonly up: Promise<void>;
  interrupt(): Promise<number>;
  stop(): Promise<void>;
}

/** `ecom up` on free ports in `dir`, its log lines read for the stages as they come. */
async function startUp(dir: string): Promise<RunningUp> {
  mkdirSync(dir, { recursive: true });
  const config = join(dir, 'storage-config.json');
  writeFileSync(config, JSON.stringify(await freeLocalTopology()));
  const [adminPort, orderPort, brokerPort, dashboardPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const args = ['up', '--data', join(dir, 'data'), '--storage-config', config, '--admin-port', String(adminPort), '--order-port', String(orderPort), '--broker-port', String(brokerPort), '--dashboard-port', String(dashboardPort)];
  const stages: Record<string, number> = {};
  const startedAt = Date.now();
  let isUp: () => void = () => undefined;
  const up = new Promise<void>((resolve) => (isUp = resolve));
  const child = spawnEcom(args, {
    name: 'ecom-up',
    env: { ECOM_LOG_FORMAT: 'json' },
    onLine: (_name, line) => {
      noteStage(line, startedAt, stages);
      if (stages[SYSTEM_IS_UP] !== undefined) isUp();
    },
  });
  return {
    child,
    startedAt,
    adminPort,
    orderPort,
    stages,
    up,
    async interrupt() {
      const from = performance.now();
      child.process.kill('SIGINT');
      const status = await child.exited;
      if (status !== 0) throw new Error(`ecom up exited with ${status} after Ctrl-C; its last lines:\n${child.recentOutput().join('\n')}`);
      return performance.now() - from;
    },
    stop: async () => void (await child.stop()),
  };
}

/** Records the first time each stage's line appears; a child's line comes prefixed with `[its name] `. */
function noteStage(line: string, startedAt: number, stages: Record<string, number>): void {
  const prefixed = /^\[([^\]]+)\] (.*)$/.exec(line);
  let entry: { msg?: unknown; time?: unknown };
  try {
    entry = JSON.parse(prefixed?.[2] ?? line) as { msg?: unknown; time?: unknown };
  } catch {
    return;
  }
  if (typeof entry.msg !== 'string' || typeof entry.time !== 'number') return;
  for (const stage of STAGES) if (stages[stage.name] === undefined && stage.matches(entry.msg, prefixed?.[1])) stages[stage.name] = entry.time - startedAt;
}

/** Waits until both portals answer through the storage tier; then the CPU the start cost. */
async function servingAfter(up: RunningUp): Promise<Omit<StartupRun, 'stages' | 'stop_ms'>> {
  const deadline = up.startedAt + START_TIMEOUT_MS;
  await Promise.all([answers(up, up.adminPort, (c) => c.retrieveClient('1'), deadline), answers(up, up.orderPort, (c) => c.retrieveOrder('1'), deadline)]);
  const serving_ms = Date.now() - up.startedAt;
  const tree = processTree(up.child.pid);
  const cpuByProcess: Record<string, number> = {};
  for (const pid of tree) cpuByProcess[commandOf(pid)] = (cpuByProcess[commandOf(pid)] ?? 0) + (cpuTime_ms(pid) ?? 0);
  const cost = { cpu_ms: Object.values(cpuByProcess).reduce((a, b) => a + b, 0), processes: tree.length, cpuByProcess };
  // It may answer a moment before it says so; the stages are complete once it has.
  await Promise.race([up.up, up.child.exited.then((status) => Promise.reject(new Error(`ecom up exited (${status}) before saying the system is up`)))]);
  return { serving_ms, ...cost };
}

/** Resolves at the first reply (found or not) from the portal on `port`; a call that fails is tried again. */
async function answers(up: RunningUp, port: number, call: (client: PortalClient) => Promise<unknown>, deadline: number): Promise<void> {
  await waitForPort('127.0.0.1', port, deadline - Date.now(), up.child);
  const client = new PortalClient({ host: '127.0.0.1', port, timeout_ms: 1_000 });
  try {
    for (;;) {
      try {
        await call(client);
        return;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`the portal on port ${port} did not answer within ${START_TIMEOUT_MS} ms: ${(err as Error).message}`);
        if (up.child.process.exitCode !== null) throw new Error(`ecom up exited while starting; its last lines:\n${up.child.recentOutput().join('\n')}`);
      }
      // A refused call (no leader yet) comes back at once; retrying without a pause would spin.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } finally {
    client.close();
  }
}

/** A process of the tree named by its ecom command and first argument (`storage 1`), or its program's name. */
function commandOf(pid: number): string {
  const argv = commandLine(pid);
  if (argv === undefined) return `pid ${pid}`;
  const args = ecomArguments(argv);
  return args === undefined ? (argv[0] ?? `pid ${pid}`) : args.slice(0, 2).filter((a) => !a.startsWith('-')).join(' ');
}

/** The wall and CPU time of one `ecom ...args` run to its exit; it must succeed or say "not found" (exit 1). */
async function oneShot(args: readonly string[]): Promise<{ wall_ms: number; cpu_ms: number }> {
  const cpuBefore = exitedChildrenCpuTime_ms();
  const from = performance.now();
  const child = spawn(process.execPath, [ECOM_BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const wall_ms = performance.now() - from;
  if (code !== 0 && code !== 1) throw new Error(`ecom ${args.join(' ')} exited with ${code}: ${stderr}`);
  // Node has waited for the child by its exit event, so its CPU is counted by now; no other child of this process exits meanwhile (ecom up runs on).
  return { wall_ms, cpu_ms: exitedChildrenCpuTime_ms() - cpuBefore };
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

function describeStart(n: number, of: number, serving: Omit<StartupRun, 'stages' | 'stop_ms'>, stages: Readonly<Record<string, number>>): string {
  const timeline = STAGES.map((s) => `${s.name} ${stages[s.name] === undefined ? '-' : seconds(stages[s.name]!)}`).join(', ');
  return `startup ${n}/${of}: serving after ${seconds(serving.serving_ms)} (both portals answered), CPU ${seconds(serving.cpu_ms)} in ${serving.processes} processes\n  ${timeline}\n  CPU by process: ${byProcess(serving.cpuByProcess)}`;
}

/** Same commands summed (the replicas together, the portals together), biggest first. */
function byProcess(cpu: Readonly<Record<string, number>>): string {
  const kinds = new Map<string, { ms: number; count: number }>();
  for (const [command, ms] of Object.entries(cpu)) {
    const kind = command.split(' ')[0] ?? command;
    const known = kinds.get(kind) ?? { ms: 0, count: 0 };
    kinds.set(kind, { ms: known.ms + ms, count: known.count + 1 });
  }
  return [...kinds]
    .sort((a, b) => b[1].ms - a[1].ms)
    .map(([kind, k]) => `${kind}${k.count > 1 ? ` ×${k.count}` : ''} ${seconds(k.ms)}`)
    .join(', ');
}

export function describeStartup(result: StartupResult): string[] {
  const lines: string[] = [];
  const serving = result.runs.map((r) => r.serving_ms).sort((a, b) => a - b);
  if (serving.length > 0) lines.push(`ecom up: serving after p50 ${seconds(median(serving))}, min ${seconds(serving[0]!)}, max ${seconds(serving[serving.length - 1]!)} over ${serving.length} start${serving.length === 1 ? '' : 's'}; CPU to start p50 ${seconds(median(result.runs.map((r) => r.cpu_ms)))}`);
  const shots = [...result.oneShot_ms].sort((a, b) => a - b);
  // The load printed at the start may have changed meanwhile: other work competes with a start.
  lines.push(`load average at the end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  if (shots.length > 0) {
    const cpu = result.oneShotCpu_ms;
    lines.push(
      `one-shot \`${result.oneShotCommand}\` ×${shots.length}: p50 ${fmtMs(median(shots))} ms, min ${fmtMs(shots[0]!)} ms, max ${fmtMs(shots[shots.length - 1]!)} ms; CPU p50 ${fmtMs(median(cpu))} ms, mean ${fmtMs(cpu.reduce((a, b) => a + b, 0) / cpu.length)} ms`,
    );
  }
  return lines;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
