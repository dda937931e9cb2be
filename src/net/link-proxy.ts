import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * One direction of the Raft link between two replicas: replica A dials this proxy believing it
 * is replica B's Raft port, and the proxy forwards to B. Raft frames flow one way only (B
 * answers over its own link to A), so blocking one proxy is a one-way partition.
 *
 * - `pass`: bytes flow.
 * - `drop`: connections are cut and new ones closed at once: everything sent is lost.
 * - `stall`: connections stay open but nothing is read: bytes wait in the sender's buffers and
 *   arrive, late, when the link heals (a long network delay).
 *
 * A `both` proxy stalls the answers too: for a client-server link such as a portal's connection
 * to the MQTT broker, where one TCP connection carries both directions.
 *
 * Used by the chaos suite's clusters (src/chaos) and by `ecom up`, whose dashboard cuts and heals
 * a replica's links with it (src/modes/raft).
 */
export type LinkState = 'pass' | 'drop' | 'stall';

export class LinkProxy {
  private server: Server | undefined;
  private readonly pairs = new Set<{ from: Socket; to: Socket }>();
  private state_: LinkState = 'pass';

  constructor(
    readonly name: string,
    readonly port: number,
    private readonly targetPort: number,
    private readonly host = '127.0.0.1',
    private readonly directions: 'forward' | 'both' = 'forward',
  ) {}

  get state(): LinkState {
    return this.state_;
  }

  listen(): Promise<void> {
    const server = createServer((from) => this.accept(from));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', (err) => reject(new Error(`proxy ${this.name} cannot listen on ${this.host}:${this.port}: ${err.message}`)));
      server.listen(this.port, this.host, () => resolve());
    });
  }

  private accept(from: Socket): void {
    if (this.state_ === 'drop') {
      from.destroy();
      return;
    }
    const to = connect({ host: this.host, port: this.targetPort });
    // The replicas turn Nagle's algorithm off on their links: a proxy that left it on would hold
    // small frames back for an ACK, adding delay the direct link does not have.
    from.setNoDelay(true);
    to.setNoDelay(true);
    const pair = { from, to };
    this.pairs.add(pair);
    const close = () => {
      from.destroy();
      to.destroy();
      this.pairs.delete(pair);
    };
    from.on('error', close).on('close', close);
    to.on('error', close).on('close', close);
    // Answers always flow unless the proxy stalls both directions.
    if (!this.stallsAnswers()) to.pipe(from);
    // A stalled link holds the bytes; set('pass') pipes them on (piping twice would duplicate them).
    if (this.state_ === 'stall') this.hold(pair);
    else this.flow(pair);
  }

  private stallsAnswers(): boolean {
    return this.directions === 'both';
  }

  /** Pipes what a stall holds; called only when it is not already piped. */
  private flow(pair: { from: Socket; to: Socket }): void {
    pair.from.pipe(pair.to);
    pair.from.resume();
    if (this.stallsAnswers()) {
      pair.to.pipe(pair.from);
      pair.to.resume();
    }
  }

  private hold(pair: { from: Socket; to: Socket }): void {
    pair.from.unpipe(pair.to);
    pair.from.pause();
    if (this.stallsAnswers()) {
      pair.to.unpipe(pair.from);
      pair.to.pause();
    }
  }

  set(state: LinkState): void {
    // Re-piping an already piped socket would duplicate bytes: only act on a change.
    if (state === this.state_) return;
    const wasStalled = this.state_ === 'stall';
    this.state_ = state;
    for (const pair of this.pairs) {
      if (state === 'drop') {
        pair.from.destroy();
        pair.to.destroy();
      } else if (state === 'stall') {
        this.hold(pair);
      } else if (wasStalled) {
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
