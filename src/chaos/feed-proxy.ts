import { connect, createServer, type Server, type Socket } from 'node:net';
import type { LinkState } from './proxy.js';

/**
 * A portal's connection to the MQTT broker, through the harness so the nemesis can cut one
 * portal's change feed. Unlike LinkProxy (src/chaos/proxy.ts, one direction of a Raft link, where
 * `stall` holds only what the dialer sends), what matters here flows back from the server: the
 * broker's announcements to the portal. So `stall` holds both directions:
 *
 * - `pass`: bytes flow both ways.
 * - `drop`: connections are cut and new ones closed at once.
 * - `stall`: connections stay open but nothing is read on either side: announcements wait in
 *   the broker's socket buffers and reach the portal, late, when the link heals.
 */
interface Pair {
  readonly from: Socket;
  readonly to: Socket;
  piped: boolean;
}

export class FeedProxy {
  private server: Server | undefined;
  private readonly pairs = new Set<Pair>();
  private state_: LinkState = 'pass';

  constructor(
    readonly name: string,
    readonly listenPort: number,
    private readonly targetPort: number,
    private readonly host = '127.0.0.1',
  ) {}

  get state(): LinkState {
    return this.state_;
  }

  /** Connections currently carried (for tests). */
  get connections(): number {
    return this.pairs.size;
  }

  listen(): Promise<void> {
    this.server = createServer((from) => this.accept(from));
    return new Promise((resolve, reject) => {
      this.server!.once('error', (err) => reject(new Error(`proxy ${this.name} cannot listen on ${this.host}:${this.listenPort}: ${err.message}`)));
      this.server!.listen(this.listenPort, this.host, () => resolve());
    });
  }

  private accept(from: Socket): void {
    if (this.state_ === 'drop') {
      from.destroy();
      return;
    }
    const to = connect({ host: this.host, port: this.targetPort });
    const pair: Pair = { from, to, piped: false };
    this.pairs.add(pair);
    const close = () => {
      from.destroy();
      to.destroy();
      this.pairs.delete(pair);
    };
    from.on('error', close).on('close', close);
    to.on('error', close).on('close', close);
    if (this.state_ === 'stall') this.hold(pair);
    else this.flow(pair);
  }

  /** Unpiped and paused: a drain on the other side cannot resume a paused pipe's source. */
  private hold(pair: Pair): void {
    if (pair.piped) {
      pair.from.unpipe(pair.to);
      pair.to.unpipe(pair.from);
      pair.piped = false;
    }
    pair.from.pause();
    pair.to.pause();
  }

  /** Piped at most once at a time: piping twice would duplicate every byte. */
  private flow(pair: Pair): void {
    if (pair.piped) return;
    pair.piped = true;
    pair.from.pipe(pair.to);
    pair.to.pipe(pair.from);
  }

  set(state: LinkState): void {
    if (state === this.state_) return;
    this.state_ = state;
    for (const pair of this.pairs) {
      if (state === 'drop') {
        pair.from.destroy();
        pair.to.destroy();
      } else if (state === 'stall') {
        this.hold(pair);
      } else {
        this.flow(pair);
      }
    }
  }

  async close(): Promise<void> {
    for (const pair of this.pairs) {
      pair.from.destroy();
      pair.to.destroy();
    }
    this.pairs.clear();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
