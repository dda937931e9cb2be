import type { Logger } from './log.js';
import type { EcomChild } from './processes.js';

/**
 * Keeps a child process of `ecom up` running: an unexpected exit is reported at once, with
 * its status and last lines, and the child is started again after a backoff (issue #14 item
 * 3). Exit code 70 is a replica that halted on an internal failure and asked not to be
 * restarted blindly: it stays down and says where to look.
 */
export type RestartPolicy = 'on-failure' | 'no';

export const RESTART_POLICIES: readonly RestartPolicy[] = ['on-failure', 'no'];

/** The exit code of a process that must not be restarted without a human (EX_SOFTWARE). */
export const HALTED_EXIT_CODE = 70;
const FIRST_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 10_000;
/** A child that ran this long before dying starts its backoff over. */
const STABLE_AFTER_MS = 30_000;
const LAST_LINES_SHOWN = 8;
/** How long after a child's exit the supervisor decides it was unexpected (see onExit). */
export const EXIT_JUDGED_AFTER_MS = 300;

export interface SupervisorOptions {
  readonly name: string;
  readonly restart: RestartPolicy;
  readonly log: Logger;
  /** Starts the child (again); called once at once, and on every restart. */
  readonly start: () => EcomChild;
  /** Told of every new child, e.g. to wait for its port or to update a map of children. */
  readonly onStarted?: (child: EcomChild, restarts: number) => void;
}

export class Supervisor {
  private child: EcomChild;
  private stopping = false;
  private failures = 0;
  private restarts = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: SupervisorOptions) {
    this.child = this.launch();
  }

  get current(): EcomChild {
    return this.child;
  }

  private launch(): EcomChild {
    const child = this.options.start();
    const startedAt = Date.now();
    void child.exited.then((status) => this.onExit(child, status, startedAt));
    this.options.onStarted?.(child, this.restarts);
    return child;
  }

  private onExit(child: EcomChild, status: number | string, startedAt: number): void {
    if (this.stopping || child !== this.child) return;
    // A terminal's Ctrl-C reaches every process of its group at once, and a child can exit on
    // it before this process has begun to stop them all: judged at once, a clean Ctrl-C logged
    // "exited unexpectedly; restarting it" for the broker. So the exit is judged a moment later.
    this.timer = setTimeout(() => this.judgeExit(child, status, startedAt), EXIT_JUDGED_AFTER_MS);
  }

  private judgeExit(child: EcomChild, status: number | string, startedAt: number): void {
    if (this.stopping || child !== this.child) return;
    const { name, log } = this.options;
    const lastLines = child.recentOutput().slice(-LAST_LINES_SHOWN);
    const how = typeof status === 'number' ? `exit code ${status}` : `signal ${status}`;
    if (status === HALTED_EXIT_CODE) {
      log.error({ lastLines }, `${name} (pid ${child.pid}) halted on an internal failure (${how}); not restarting it: read its log, fix the cause, then start it again`);
      return;
    }
    if (this.options.restart === 'no') {
      log.error({ lastLines }, `${name} (pid ${child.pid}) exited unexpectedly (${how}); not restarting it (--restart no)`);
      return;
    }
    if (Date.now() - startedAt > STABLE_AFTER_MS) this.failures = 0;
    const delay_ms = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** this.failures++);
    log.error({ lastLines }, `${name} (pid ${child.pid}) exited unexpectedly (${how}); restarting it in ${delay_ms} ms`);
    this.timer = setTimeout(() => {
      if (this.stopping) return;
      this.restarts++;
      this.child = this.launch();
      log.info(`${name} restarted (pid ${this.child.pid}, restart ${this.restarts})`);
    }, delay_ms);
  }

  /**
   * Stops judging the child without touching it: its exit, whenever it comes, is no failure and
   * no restart follows. For a system that is stopping (a Ctrl-C reaches the child too, before
   * stop() does) and for an owner that starts a new child by hand.
   */
  expectExit(): void {
    this.stopping = true;
    clearTimeout(this.timer);
  }

  /** Stops the child on purpose (SIGTERM, then SIGKILL after `grace_ms`); no restart follows. */
  async stop(grace_ms?: number): Promise<number | string> {
    this.stopping = true;
    clearTimeout(this.timer);
    return this.child.stop(grace_ms);
  }
}
