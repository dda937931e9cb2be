import { connect, type Socket } from 'node:net';
import { defined } from '../util/assert.js';
import { FloorFrameReader, FloorKind, floorFrame } from './floor-protocol.js';
import type { Workload } from './workloads.js';

/**
 * The floor under mqtt mode's visibility figure on this machine: a broker and 3 portals stood
 * in for by processes that only move five-byte frames (src/bench/floor-node.ts), probed the way
 * the visibility workload probes mqtt mode (a write through one portal, answered once the
 * broker has sent it back, then reads through the others until each has it). Every process
 * wake-up and loopback hop of the real chain is there and none of its work, so no
 * implementation of this design can be faster here; a figure near the floor has nothing left
 * to win. The stand-ins run with the node flags of the real broker and portals; systems.ts
 * starts them.
 */
export function visibilityFloorSystemName(portals: number): string {
  return `machine floor: bare TCP stand-ins for a broker and ${portals} portals, each its own process`;
}

interface Waiter {
  resolve(answer: boolean): void;
  reject(error: Error): void;
  readonly timer: NodeJS.Timeout;
}

/** Reads of one portal (or its stand-in) for one write before a visibility probe gives up: the real probe's bound and the floor's. */
export const MAX_VISIBILITY_READS = 10_000;

/** One connection of the probe to a portal stand-in: each request is answered by its id and kind. */
class FloorConnection {
  private readonly writes = new Map<number, Waiter>();
  private readonly reads = new Map<number, Waiter>();
  private closedBecause: string | undefined;

  private constructor(
    private readonly socket: Socket,
    private readonly port: number,
    private readonly timeout_ms: number,
  ) {
    socket.setNoDelay(true);
    const reader = new FloorFrameReader(new Set([FloorKind.written, FloorKind.refused, FloorKind.found, FloorKind.notFound]), (kind, id) => {
      if (kind === FloorKind.written || kind === FloorKind.refused) {
        this.answer(this.writes, id, kind === FloorKind.written);
      } else {
        this.answer(this.reads, id, kind === FloorKind.found);
      }
    });
    socket.on('data', (chunk: Buffer) => {
      const refused = reader.push(chunk);
      if (refused !== undefined) this.fail(`the stand-in sent ${refused}`);
    });
    socket.on('error', (err) => this.fail(err.message));
    socket.on('close', () => this.fail('the stand-in closed the connection'));
  }

  /** A connection whose requests fail when unanswered for `timeout_ms`, as the measured clients' calls do. */
  static open(port: number, timeout_ms: number): Promise<FloorConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new FloorConnection(socket, port, timeout_ms));
      });
    });
  }

  write(id: number): Promise<boolean> {
    return this.request(this.writes, FloorKind.write, id);
  }

  read(id: number): Promise<boolean> {
    return this.request(this.reads, FloorKind.read, id);
  }

  close(): void {
    this.socket.destroy();
  }

  private request(pending: Map<number, Waiter>, kind: typeof FloorKind.write | typeof FloorKind.read, id: number): Promise<boolean> {
    if (this.closedBecause !== undefined) return Promise.reject(new Error(`visibility floor: ${this.closedBecause}`));
    if (pending.has(id)) return Promise.reject(new Error(`visibility floor: id ${id} is already asked on this connection`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`visibility floor: the stand-in on port ${this.port} did not answer id ${id} within ${this.timeout_ms} ms`));
      }, this.timeout_ms);
      pending.set(id, { resolve, reject, timer });
      this.socket.write(floorFrame(kind, id));
    });
  }

  private answer(pending: Map<number, Waiter>, id: number, answer: boolean): void {
    const waiter = pending.get(id);
    if (waiter === undefined) return;
    pending.delete(id);
    clearTimeout(waiter.timer);
    waiter.resolve(answer);
  }

  private fail(reason: string): void {
    if (this.closedBecause !== undefined) return;
    this.closedBecause = reason;
    this.socket.destroy();
    // Unanswered requests end as errors, which the bench counts and names.
    const error = new Error(`visibility floor: ${reason}`);
    for (const pending of [this.writes, this.reads]) {
      const waiters = [...pending.values()];
      pending.clear();
      for (const waiter of waiters) {
        clearTimeout(waiter.timer);
        waiter.reject(error);
      }
    }
  }
}

/** Ids of one worker: its number in the top byte, so that workers never share one. */
const IDS_PER_WORKER = 1 << 24;

export const visibilityFloorWorkload: Workload = {
  name: 'visibility-floor',
  level: 'floor',
  description: "the machine's floor under the visibility figure: its hops and processes with bare TCP stand-ins for the broker and portals (bench mqtt runs it)",
  workers: 1,
  async prepare(ctx) {
    if (ctx.target.kind !== 'floor') throw new Error(`visibility-floor needs the floor's stand-ins, not ${ctx.target.kind}`);
    if (ctx.target.ports.length < 2) throw new Error('visibility-floor needs two portal stand-ins or more');
    if (ctx.worker >= 256) throw new Error('visibility-floor gives each worker its own ids: at most 256 workers');
    const connections = await Promise.all(ctx.target.ports.map((port) => FloorConnection.open(port, ctx.timeout_ms)));
    let next = 0;
    return {
      op: async () => {
        if (next >= IDS_PER_WORKER) throw new Error(`visibility-floor: this worker has used its ${IDS_PER_WORKER} ids; run shorter`);
        const id = ctx.worker * IDS_PER_WORKER + next;
        const origin = next++ % connections.length;
        if (!(await defined(connections[origin], 'the origin stand-in').write(id))) throw new Error('visibility floor: a stand-in refused the write (its bounds are reached)');
        await Promise.all(
          connections.map(async (other, at) => {
            if (at === origin) return;
            // Like the visibility probe: read again without pause until the write is there.
            for (let reads = 1; !(await other.read(id)); reads++) {
              if (reads >= MAX_VISIBILITY_READS) throw new Error(`visibility floor: id ${id} still not on another stand-in after ${reads} reads`);
              await new Promise((resolve) => setImmediate(resolve));
            }
          }),
        );
        return true;
      },
      close: () => {
        for (const c of connections) c.close();
        return Promise.resolve();
      },
    };
  },
};
