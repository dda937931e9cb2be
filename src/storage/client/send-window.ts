export interface SendWindowOptions {
  /** The widest the window gets, and where it starts: a leader takes 4,096 proposals by default. */
  readonly max: number;
  /** Requests that may wait for room at once; past it a request is refused at once (not sent). */
  readonly maxWaiting: number;
}

/** Leave to send one request, taken with the window's round at that moment. */
export interface Ticket {
  readonly round: number;
}

/** Why a request was never sent: its deadline passed while it waited, or too many waited already. */
export type NotSent = { readonly notSent: 'deadline' | 'too-many-waiting'; readonly waiting: number };

interface Waiter {
  readonly grant: (outcome: Ticket | NotSent) => void;
  readonly timer: NodeJS.Timeout;
  done: boolean;
}

/** A first-in first-out queue that forgets its head without moving the rest. */
class Queue<T> {
  private items: T[] = [];
  private head = 0;

  push(item: T): void {
    this.items.push(item);
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }

  shift(): T | undefined {
    if (this.head === this.items.length) return undefined;
    const item = this.items[this.head++];
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}

/**
 * How many proposals one cluster client keeps at a partition's leader at once, so that an
 * overloaded leader's "busy" answers slow the client down instead of coming back as a storm of
 * retries.
 *
 * Without it every refused request slept its own backoff and was sent again. An open loop of
 * 8,000 writes/s started against a fresh tier (a rate it sustains once warm) piled up thousands of
 * requests in the first second; from then on a leader refused 36,000 proposals a second while it
 * committed 2,000, the retries took half the machine, and the tier stayed at a quarter of its
 * throughput until the load stopped (docs/bench-report.md, 2026-12-05). Now a request past the
 * window waits here, in memory and in order, until an answer makes room, and the window follows
 * the leader's answers as TCP's congestion window follows losses: a little wider with every
 * answer, cut to half of what was out by a busy one, once per round (a busy answer to a request
 * sent before the last cut does not cut again: it was sent into the old window).
 *
 * Whenever requests wait, the window is full (each change of width or of what is out ends in
 * admit()), so an answer still to come always lets the next one go.
 */
export class SendWindow {
  private limit: number;
  private inFlight = 0;
  /** How many times the window was cut: a ticket's round says which window it was sent into. */
  private round = 0;
  /** Requests refused busy before wait ahead of new ones: they have waited longest. */
  private readonly retries = new Queue<Waiter>();
  private readonly fresh = new Queue<Waiter>();
  /** Waiters not yet granted nor expired (the queues also hold expired ones until they reach the front). */
  private waitingCount = 0;
  private readonly counts_ = { busy: 0, cuts: 0, notSentDeadline: 0, notSentTooManyWaiting: 0 };

  constructor(private readonly options: SendWindowOptions) {
    if (!(options.max >= 1) || !(options.maxWaiting >= 0)) throw new Error(`a send window needs max ≥ 1 and maxWaiting ≥ 0, got ${options.max} and ${options.maxWaiting}`);
    this.limit = options.max;
  }

  /** Requests sent and not yet answered. */
  get sending(): number {
    return this.inFlight;
  }

  /** Requests waiting for room. */
  get waiting(): number {
    return this.waitingCount;
  }

  /** How many requests may be out at once now. */
  get width(): number {
    return Math.floor(this.limit);
  }

  /**
   * The window now (width, out, waiting) and what it has done since it was made (answers busy,
   * cuts, requests given up unsent: these only grow), for the portal's metrics.
   */
  get state() {
    return { width: this.width, sending: this.inFlight, waiting: this.waitingCount, ...this.counts_ };
  }

  /**
   * Leave to send, now or once an answer makes room; `retry`: the request was refused busy and
   * goes ahead of those never sent. Resolves NotSent when `deadline_ms` (epoch ms) passes first.
   */
  acquire(deadline_ms: number, retry = false): Promise<Ticket | NotSent> {
    if (this.inFlight < this.limit && this.waitingCount === 0) {
      this.inFlight++;
      return Promise.resolve({ round: this.round });
    }
    if (this.waitingCount >= this.options.maxWaiting) {
      this.counts_.notSentTooManyWaiting++;
      return Promise.resolve({ notSent: 'too-many-waiting', waiting: this.waitingCount });
    }
    return new Promise((resolve) => {
      const waiter: Waiter = {
        grant: resolve,
        done: false,
        timer: setTimeout(() => {
          if (waiter.done) return;
          waiter.done = true;
          this.waitingCount--;
          // The queues keep expired waiters until they reach the front; none live: drop them all.
          if (this.waitingCount === 0) {
            this.retries.clear();
            this.fresh.clear();
          }
          this.counts_.notSentDeadline++;
          resolve({ notSent: 'deadline', waiting: this.waitingCount });
        }, Math.max(0, deadline_ms - Date.now())),
      };
      this.waitingCount++;
      (retry ? this.retries : this.fresh).push(waiter);
    });
  }

  /** The leader answered the request (`busy`: it refused it, appending nothing), or the request failed otherwise. */
  release(ticket: Ticket, answer: 'busy' | 'answered'): void {
    if (!(this.inFlight > 0)) throw new Error('a send window released more tickets than it gave');
    const flight = this.inFlight--;
    if (answer === 'busy') {
      this.counts_.busy++;
      if (ticket.round === this.round) {
        this.counts_.cuts++;
        // Half of what was out, not of the width: a window far wider than its use would
        // otherwise take many rounds of refusals to come down to what the leader takes.
        this.limit = Math.max(1, Math.floor(Math.min(this.limit, flight) / 2));
        this.round++;
      }
    } else {
      this.limit = Math.min(this.options.max, this.limit + 1 / this.limit);
    }
    this.admit();
  }

  private admit(): void {
    while (this.inFlight < this.limit && this.waitingCount > 0) {
      const waiter = this.retries.shift() ?? this.fresh.shift();
      if (waiter === undefined) return;
      if (waiter.done) continue;
      waiter.done = true;
      clearTimeout(waiter.timer);
      this.waitingCount--;
      this.inFlight++;
      waiter.grant({ round: this.round });
    }
  }
}
