import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { spawnEcom, spawnProgram, waitForPort, type EcomChild } from './processes.js';
import { defined } from './assert.js';

/** A process that exited without the harness killing or stopping it. */
export interface Crash {
  readonly name: string;
  readonly exit: number | string;
  /** Its log file, whose last lines usually say why. */
  readonly log: string;
  /** The last line it wrote, as the first clue. */
  readonly lastLine: string;
}

/**
 * The processes of a system under test, by name: each logs to `<logDir>/<name>.log`, can be killed
 * (-9), paused (SIGSTOP) and continued, and any exit the harness did not cause is recorded as a
 * crash, which a run always reports as a violation.
 */
export class ProcessGroup {
  /** Processes that exited without the harness killing or stopping them: always a finding. */
  readonly crashes: Crash[] = [];
  private readonly children = new Map<string, EcomChild>();
  /** Stopped with SIGSTOP: they get SIGCONT before any kill or stop. */
  private readonly paused = new Set<string>();
  private readonly expectedExits = new Set<EcomChild>();
  private readonly logs: WriteStream[] = [];

  constructor(readonly logDir: string) {
    mkdirSync(logDir, { recursive: true });
  }

  /** Starts `ecom ...args` under `name`. */
  start(name: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): EcomChild {
    return this.track(name, (onLine) => spawnEcom(args, { name, onLine, env: { ECOM_LOG_FORMAT: 'json', ...env } }));
  }

  /** Starts another program (e.g. mosquitto) under `name`. */
  startProgram(name: string, file: string, args: readonly string[]): EcomChild {
    return this.track(name, (onLine) => spawnProgram(file, args, { name, onLine }));
  }

  private track(name: string, spawn: (onLine: (name: string, line: string) => void) => EcomChild): EcomChild {
    if (this.isRunning(name)) throw new Error(`${name} is already running`);
    const path = join(this.logDir, `${name}.log`);
    const log = createWriteStream(path, { flags: 'a' });
    this.logs.push(log);
    // The exit can be seen before the last lines of output are read (often the one that says
    // why), so a recorded crash keeps taking lines.
    const seen = { lastLine: '' };
    const child = spawn((_n, line) => {
      log.write(`${line}\n`);
      if (line.trim() !== '') seen.lastLine = line;
    });
    this.children.set(name, child);
    this.paused.delete(name);
    void child.exited.then((exit) => {
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

  /** kill -9, on purpose. */
  async kill(name: string): Promise<void> {
    const child = this.children.get(name);
    if (child === undefined) return;
    this.resume(name);
    this.expectedExits.add(child);
    await child.kill();
  }

  pause(name: string): void {
    if (!this.isRunning(name)) return;
    defined(this.children.get(name), name).process.kill('SIGSTOP');
    this.paused.add(name);
  }

  resume(name: string): void {
    if (!this.paused.delete(name)) return;
    this.children.get(name)?.process.kill('SIGCONT');
  }

  resumeAll(): void {
    for (const name of [...this.paused]) this.resume(name);
  }

  /** Stops the named processes (SIGTERM, then SIGKILL after a grace period), all at once. */
  async stop(names: readonly string[]): Promise<void> {
    await Promise.all(
      names.map(async (name) => {
        const child = this.children.get(name);
        if (child === undefined) return;
        this.resume(name);
        this.expectedExits.add(child);
        await child.stop();
      }),
    );
  }

  names(): string[] {
    return [...this.children.keys()];
  }

  async closeLogs(): Promise<void> {
    await Promise.all(this.logs.splice(0).map((l) => new Promise<void>((resolve) => l.end(() => resolve()))));
  }
}
