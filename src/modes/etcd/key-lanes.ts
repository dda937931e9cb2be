import { assert } from '../../util/assert.js';
/**
 * Within one portal, writes that touch the same records take turns instead of racing each
 * other in etcd: a race costs each loser a re-read, a re-run and a backoff, and a hot product
 * ordered by dozens of callers at once would otherwise spend most commits on conflicts.
 * This is only a performance measure: the etcd transaction's revision compares alone keep
 * writes correct, so races with other portals (or a bug here) cannot break the rules.
 */
export class QueueFullError extends Error {
  override readonly name = 'QueueFullError';
}

export class LaneTimeoutError extends Error {
  override readonly name = 'LaneTimeoutError';
}

export class KeyLanes {
  /** For each key, the turn of the last write queued on it; it settles when that write is done. */
  private readonly tails = new Map<string, Promise<void>>();
  private waiting = 0;

  constructor(private readonly max_waiting: number) {
    assert(max_waiting >= 1, 'key lanes need room for at least one waiting write');
  }

  /**
   * Waits for every earlier write on any of `keys`, then returns the function that ends this
   * write's turn. Turns are taken in arrival order on every key at once, so no two writes can
   * wait for each other.
   */
  async enter(keys: readonly string[], deadline_ms: number): Promise<() => void> {
    if (this.waiting >= this.max_waiting) {
      throw new QueueFullError(`more than ${this.max_waiting} writes are waiting for their turn in this portal`);
    }
    const unique = [...new Set(keys)];
    let endTurn!: () => void;
    const turn = new Promise<void>((resolve) => (endTurn = resolve));
    const earlier = Promise.all(unique.map((key) => this.tails.get(key) ?? Promise.resolve()));
    for (const key of unique) this.tails.set(key, turn);
    const leave = () => {
      endTurn();
      for (const key of unique) if (this.tails.get(key) === turn) this.tails.delete(key);
    };
    this.waiting++;
    let timer: NodeJS.Timeout | undefined;
    try {
      const expired = new Promise<'expired'>((resolve) => (timer = setTimeout(() => resolve('expired'), Math.max(0, deadline_ms - Date.now()))));
      if ((await Promise.race([earlier, expired])) === 'expired') {
        // Later writes queued behind this one must still wait for the earlier ones.
        void earlier.then(leave);
        throw new LaneTimeoutError('earlier writes to the same records did not finish before the deadline');
      }
    } finally {
      clearTimeout(timer);
      this.waiting--;
    }
    return leave;
  }

  get queued(): number {
    return this.waiting;
  }
}
