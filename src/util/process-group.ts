import { EventEmitter } from 'node:events';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { defined } from './assert.js';
import type { Logger } from './log.js';
import { spawnEcom, spawnProgram, waitForPort, type EcomChild } from './processes.js';
import { waitUntilStopped } from './proc-state.js';
import { Supervisor, type RestartPolicy } from './supervisor.js';

/** A process that exited without the harness killing or stopping it. */
export interface Crash {
  readonly name: string;
  readonly exit: number | string;
  /** Its log file, whose last lines usually say why. */
  readonly log: string;
  /** The last line it wrote, as the first clue. */
  readonly lastLine: string;
}

/** How a child that exits on its own is brought back (`ecom up --restart`); unset, it stays down. */
export interface Supervision {
  readonly restart: RestartPolicy;
  readonly log: Logger;
}

export interface StartOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly supervise?: Supervision;
}

/**
 * The one owner of a system's child processes, by name: `ecom up`'s storage tier, the chaos
 * clusters and the benchmarks all start their children here. Each child logs to
 * `<logDir>/<name>.log` (one file across restarts), can be killed (-9), paused (SIGSTOP) and
 * continued, and any exit its owner did not cause is recorded as a crash (a violation in a
 * chaos run). Under supervision such a child is also restarted with backoff.
 */
export class ProcessGroup {
  /** 'started' (name, child) for every process started, restarts included; 'exited' (name, child, status). */
  readonly events = new EventEmitter<{ started: [name: string, child: EcomChild]; exited: [name: string, child: EcomChild, status: number | string] }>();
  /** Processes that exited without the harness killing or stopping them: always a finding. */
  readonly crashes: Crash[] = [];
  private readonly children = new Map<string, EcomChild>();
  private readonly supervisors = new Map<string, Supervisor>();
  /** Stopped with SIGSTOP: they get SIGCONT before any kill or stop. */
  private readonly paused = new Set<string>();
  private readonly expectedExits = new Set<EcomChild>();
  private readonly logs = new Map<string, WriteStream>();

  constructor(readonly logDir: string) {
    mkdirSync(logDir, { recursive: true });
  }

  /** Starts `ecom ...args` under `name`; children log JSON, which their log files keep. */
  start(name: string, args: readonly string[], options: StartOptions = {}): EcomChild {
    const env = { ECOM_LOG_FORMAT: 'json', ...options.env };
    return this.launch(name, (onLine) => spawnEcom(args, { name, onLine, env }), options.supervise);
  }

  /** Starts another program (e.g. mosquitto) under `name`. */
  startProgram(name: string, file: string, args: readonly string[], options: StartOptions = {}): EcomChild {
    return this.launch(name, (onLine) => spawnProgram(file, args, { name, onLine, env: options.env }), options.supervise);
  }

  /** The process running under `name` now (a restart replaces it). */
  child(name: string): EcomChild | undefined {
    return this.children.get(name);
  }

  private launch(name: string, spawn: Spawn, supervise: Supervision | undefined): EcomChild {
    if (this.isRunning(name)) throw new Error(`${name} is already running`);
    this.supervisors.get(name)?.expectExit();
    this.supervisors.delete(name);
    if (supervise === undefined) return this.track(name, spawn);
    const supervisor = new Supervisor({ name, ...supervise, start: () => this.track(name, spawn) });
    this.supervisors.set(name, supervisor);
    return supervisor.current;
  }

  private logOf(name: string): { path: string; stream: WriteStream } {
    const path = join(this.logDir, `${name}.log`);
    let stream = this.logs.get(name);
    if (stream === undefined) {
      stream = createWriteStream(path, { flags: 'a' });
      // A full disk loses log lines, not the system: the processes say so themselves.
      stream.on('error', () => undefined);
      this.logs.set(name, stream);
    }
    return { path, stream };
  }

  private track(name: string, spawn: Spawn): EcomChild {
    const { path, stream: log } = this.logOf(name);
    // The exit can be seen before the last lines of output are read (often the one that says
    // why), so a recorded crash keeps taking lines.
    const seen = { lastLine: '' };
    const child = spawn((_n, line) => {
      log.write(`${line}\n`);
      if (line.trim() !== '') seen.lastLine = line;
    });
    this.children.set(name, child);
    this.paused.delete(name);
    this.events.emit('started', name, child);
    void child.exited.then((exit) => {
      this.events.emit('exited', name, child, exit);
      if (!this.expectedExits.has(child))
        this.crashes.push({
          name,
          exit,
          log: path,
          get lastLine() {
            return seen.lastLine;
          },
        });
    });
    return child;
  }

  isRunning(name: string): boolean {
    const child = this.children.get(name);
    return child !== undefined && child.process.exitCode === null && child.process.signalCode === null;
  }

  /** Resolves once `name` accepts connections on `port`; rejects if it exits first. */
  async waitForPort(name: string, port: number, timeout_ms: number): Promise<void> {
    const child = this.children.get(name);
    if (child === undefined) throw new Error(`${name} was never started`);
    try {
      await waitForPort('127.0.0.1', port, timeout_ms, child);
    } catch (err) {
      throw new Error(`${name}: ${(err as Error).message} (its log: ${join(this.logDir, `${name}.log`)})`);
    }
  }

  /** kill -9, on purpose, like a crash: a supervised child is restarted as after any crash. */
  async kill(name: string): Promise<void> {
    const child = this.children.get(name);
    if (child === undefined) return;
    this.resume(name);
    this.expectedExits.add(child);
    await child.kill();
  }

  /** Stopped with SIGSTOP by pause() and not yet resumed. */
  isPaused(name: string): boolean {
    return this.paused.has(name);
  }

  /**
   * SIGSTOP, settled once the process is stopped (every thread of it), so that what its owner
   * logs or does next happens with the process frozen: kill() returns before that.
   */
  async pause(name: string): Promise<void> {
    if (!this.isRunning(name)) return;
    const child = defined(this.children.get(name), name);
    child.process.kill('SIGSTOP');
    this.paused.add(name);
    await waitUntilStopped(child.pid);
  }

  resume(name: string): void {
    if (!this.paused.delete(name)) return;
    this.children.get(name)?.process.kill('SIGCONT');
  }

  resumeAll(): void {
    for (const name of [...this.paused]) this.resume(name);
  }

  /** The system is stopping: no exit from now on is a crash or restarted, whoever caused it. */
  expectExits(): void {
    for (const child of this.children.values()) this.expectedExits.add(child);
    for (const supervisor of this.supervisors.values()) supervisor.expectExit();
  }

  /** Stops the named processes (SIGTERM, then SIGKILL after a grace period), all at once. */
  async stop(names: readonly string[]): Promise<void> {
    await Promise.all(
      names.map(async (name) => {
        const child = this.children.get(name);
        if (child === undefined) return;
        this.resume(name);
        this.expectedExits.add(child);
        const supervisor = this.supervisors.get(name);
        this.supervisors.delete(name);
        await (supervisor?.stop() ?? child.stop());
      }),
    );
  }

  names(): string[] {
    return [...this.children.keys()];
  }

  async closeLogs(): Promise<void> {
    const logs = [...this.logs.values()];
    this.logs.clear();
    await Promise.all(logs.map((l) => new Promise<void>((resolve) => l.end(() => resolve()))));
  }
}

type Spawn = (onLine: (name: string, line: string) => void) => EcomChild;
