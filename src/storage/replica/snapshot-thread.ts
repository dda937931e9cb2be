import { Worker } from 'node:worker_threads';
import type { SnapshotReply, SnapshotRequest } from './snapshot-format.js';

/**
 * The replica's handle on its snapshot worker (snapshot-worker.ts): one request at a time, the
 * answer a promise. The worker starts with the first copy, not with the replica: loading it
 * costs CPU that six replicas starting on two cores would otherwise compete for. The worker runs the compiled JavaScript when there is one; from the
 * TypeScript sources it registers the same loader as `bin/ecom.js` first.
 */
export class SnapshotThread {
  private worker: Worker | undefined;
  private waiting: { resolve: (reply: SnapshotReply) => void; reject: (err: Error) => void } | undefined;

  constructor(private statePath: string) {}

  /** The state and its applied index at one moment, copied off the event loop. */
  copy(request: SnapshotRequest): Promise<SnapshotReply> {
    if (this.waiting !== undefined) return Promise.reject(new Error('a copy of the state is already being made'));
    const worker = this.worker ?? this.start();
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      worker.postMessage(request);
    });
  }

  /** Whether a copy is being made now (one at a time). */
  get busy(): boolean {
    return this.waiting !== undefined;
  }

  /** The store moved to `path` (a store file was installed): the next copy is made there by a new worker. */
  retarget(path: string): void {
    void this.close();
    this.statePath = path;
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    this.fail(new Error('the replica is stopping'));
    await worker?.terminate();
  }

  private start(): Worker {
    const fromSources = import.meta.url.endsWith('.ts');
    const entry = new URL(fromSources ? './snapshot-worker.ts' : './snapshot-worker.js', import.meta.url);
    const worker = fromSources
      ? new Worker(`import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); })`, {
          eval: true,
          workerData: { path: this.statePath },
        })
      : new Worker(entry, { workerData: { path: this.statePath } });
    worker.on('message', (reply: SnapshotReply | { error: string }) => {
      if ('error' in reply) return this.fail(new Error(`the snapshot worker could not copy the state: ${reply.error}`));
      const waiting = this.waiting;
      this.waiting = undefined;
      waiting?.resolve(reply);
    });
    worker.on('error', (err) => {
      if (this.worker === worker) this.fail(err);
    });
    worker.on('exit', (code) => {
      // A worker closed on purpose (close, retarget) has already failed what it was doing.
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.fail(new Error(`the snapshot worker exited (code ${code})`));
    });
    worker.unref();
    this.worker = worker;
    return worker;
  }

  private fail(err: Error): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.reject(err);
  }
}
