// The simulated network: an unordered bag of in-flight messages. Picking a random one to deliver
// next models reordering and delay; faults drop, duplicate and partition.
import type { Message, NodeId } from '../raft/types.js';
import type { Prng } from '../util/random.js';

export interface NetworkFaults {
  readonly drop_probability: number;
  readonly duplicate_probability: number;
  /** A picked message goes to the back of the queue instead of being delivered. */
  readonly delay_probability: number;
  /** Bound on in-flight messages; beyond it the oldest are dropped, as a congested link would. */
  readonly max_in_flight: number;
}

export class SimNetwork {
  private inFlight: Message[] = [];
  /** Directed links that currently lose everything ("from>to"). */
  private readonly blocked = new Set<string>();
  dropped = 0;
  delayed = 0;
  duplicated = 0;
  delivered = 0;

  constructor(
    private readonly prng: Prng,
    private readonly faults: NetworkFaults,
  ) {}

  send(messages: readonly Message[]): void {
    for (const m of messages) {
      if (this.prng.chance(this.faults.drop_probability)) {
        this.dropped++;
        continue;
      }
      this.inFlight.push(m);
      if (this.prng.chance(this.faults.duplicate_probability)) {
        this.inFlight.push(m);
        this.duplicated++;
      }
    }
    if (this.inFlight.length > this.faults.max_in_flight) {
      const excess = this.inFlight.length - this.faults.max_in_flight;
      this.inFlight.splice(0, excess);
      this.dropped += excess;
    }
  }

  size(): number {
    return this.inFlight.length;
  }

  /** Removes and returns a random in-flight message that its link lets through, or undefined. */
  next(): Message | undefined {
    while (this.inFlight.length > 0) {
      // Bias towards older messages so nothing starves forever, but still reorder.
      const window = Math.min(this.inFlight.length, 8);
      const i = this.prng.int(window);
      const m = this.inFlight[i]!;
      this.inFlight.splice(i, 1);
      if (this.prng.chance(this.faults.delay_probability)) {
        this.inFlight.push(m);
        this.delayed++;
        return undefined;
      }
      if (this.blocked.has(`${m.from}>${m.to}`)) {
        this.dropped++;
        continue;
      }
      this.delivered++;
      return m;
    }
    return undefined;
  }

  /** Splits nodes into two sides that cannot talk (symmetric partition). */
  partition(sideA: readonly NodeId[], sideB: readonly NodeId[]): void {
    for (const a of sideA) {
      for (const b of sideB) {
        this.blocked.add(`${a}>${b}`);
        this.blocked.add(`${b}>${a}`);
      }
    }
  }

  /** Messages from `from` to `to` are lost; the reverse direction still works. */
  blockOneWay(from: NodeId, to: NodeId): void {
    this.blocked.add(`${from}>${to}`);
  }

  heal(): void {
    this.blocked.clear();
  }

  describePartitions(): string {
    return [...this.blocked].sort().join(' ');
  }
}
