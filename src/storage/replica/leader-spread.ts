import type { Logger } from 'pino';
import type { ReplicaResponse, ReplicaStatus } from '../common/protocol.js';

/**
 * A storage process that hosts a replica of every partition (`ecom storage 1 4`, and `ecom up`
 * by default) has one event loop, so one core. When the partitions' leaders are all elected
 * in it, that core does every leader's work while the other processes follow: at 512 writes
 * in flight the colocated tier lost a third of its throughput that way (docs/bench.md). So a
 * process holding two leaders or more hands all but its lowest partition's to a follower in a
 * process that leads nothing, as `ecom leader move` would; a leadership transfer costs no
 * election timeout and keeps every guarantee (the target must first hold the leader's log).
 */

/** What a hosted replica offers the spreading: its status and a way to hand its leadership over. */
export interface SpreadableReplica {
  readonly id: number;
  status(): ReplicaStatus;
  moveLeadership(to: number): Promise<ReplicaResponse>;
}

export interface SpreadMove {
  readonly from: number;
  readonly partition: number;
  readonly to: number;
}

/**
 * The move that spreads the leaders of `hosted` (one process's replicas), or undefined when
 * none is needed or none is possible. `sameProcessAs(id)` names the replicas that share a
 * process with `id` (id included), as far as this process knows the layout: a follower in the
 * process of another partition's leader is no better a target than this process.
 */
export function spreadMove(hosted: readonly ReplicaStatus[], sameProcessAs: (id: number) => readonly number[]): SpreadMove | undefined {
  const leaders = hosted.filter((r) => r.role === 'leader').sort((a, b) => a.partition - b.partition);
  if (leaders.length < 2) return undefined;
  const here = new Set(hosted.map((r) => r.id));
  const leading = new Set<number>();
  for (const r of hosted) if (r.role !== 'leader' && r.leader > 0) for (const id of sameProcessAs(r.leader)) leading.add(id);
  // The highest partitions move; the lowest stays. One move at a time: the next check sees its effect.
  for (const mover of leaders.slice(1).reverse()) {
    const voter = (id: number) => mover.members === undefined || mover.members.some((m) => m.id === id && m.role === 'voter');
    const targets = (mover.followers ?? []).filter((f) => f.active === true && f.match > 0 && !here.has(f.id) && !leading.has(f.id) && voter(f.id));
    const best = targets.sort((a, b) => b.match - a.match)[0];
    if (best !== undefined) return { from: mover.id, partition: mover.partition, to: best.id };
  }
  return undefined;
}

/** How often the hosted replicas' roles are looked at. */
const CHECK_EVERY_MS = 250;
/** Leaders must have been together this long before one moves: an election settling is left alone. */
const SETTLE_MS = 1_000;
/** After a move (done or refused), no other for this long: the cluster's view settles, and a refused move is not retried at once. */
const COOLDOWN_MS = 3_000;

export class LeaderSpread {
  private readonly timer: NodeJS.Timeout;
  private togetherSince: number | undefined;
  private quietUntil = 0;
  private moving = false;

  constructor(
    private readonly replicas: readonly SpreadableReplica[],
    private readonly sameProcessAs: (id: number) => readonly number[],
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.timer = setInterval(() => this.check(), CHECK_EVERY_MS);
    this.timer.unref();
  }

  /** One look at the hosted replicas (every CHECK_EVERY_MS): hands one leadership over if they have led together long enough. */
  check(): void {
    if (this.moving) return;
    const statuses = this.replicas.map((r) => r.status());
    const now = this.now();
    if (statuses.filter((s) => s.role === 'leader').length < 2) {
      this.togetherSince = undefined;
      return;
    }
    this.togetherSince ??= now;
    if (now - this.togetherSince < SETTLE_MS || now < this.quietUntil) return;
    const move = spreadMove(statuses, this.sameProcessAs);
    if (move === undefined) return;
    const replica = this.replicas.find((r) => r.id === move.from);
    if (replica === undefined) return;
    this.moving = true;
    this.log.info({ replica: move.from, partition: move.partition, to: move.to }, 'this process leads several partitions: handing one leadership to a follower in another process, so the leaders use every core');
    void replica
      .moveLeadership(move.to)
      .then((answer) => {
        if (!answer.ok) this.log.info({ replica: move.from, partition: move.partition, to: move.to, reason: 'message' in answer ? answer.message : answer.error }, 'leadership not handed over; leading on');
      })
      .finally(() => {
        this.moving = false;
        this.togetherSince = undefined;
        this.quietUntil = this.now() + COOLDOWN_MS;
      });
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
