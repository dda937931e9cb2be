import type { Command, Reply } from '../../src/domain/commands.js';
import type { ChangeEvent } from '../../src/domain/events.js';
import type { LogMessage, StateRefusal, StateReply } from '../../src/modes/mqtt/protocol.js';
import { Replica, DEFAULT_REPLICA_LIMITS, type ReplicaLimits } from '../../src/modes/mqtt/replica.js';
import { createLogger, silentLogger } from '../../src/util/log.js';

/**
 * A broker and its portals in one process: one ordered log, each portal reading it at its
 * own pace, with faults (lost deliveries, duplicates, messages the broker loses for everyone)
 * injected by the test. Used to check the replication protocol deterministically from a seed.
 */
import { rng } from '../../src/util/random.js';

export { rng };

export interface SimPortal {
  readonly name: string;
  readonly replica: Replica;
  readonly inbox: LogMessage[];
  readonly stateInbox: Array<StateReply | StateRefusal>;
  readonly replies: Map<number, Reply>;
  readonly events: ChangeEvent[];
  subscribed: boolean;
  seq: number;
  /** Deliveries to this portal that the test makes the broker drop. */
  dropNext: number;
  lostReplies: number;
}

export class SimCluster {
  readonly portals: SimPortal[] = [];
  /** Every message the broker ordered, for assertions. */
  readonly ordered: LogMessage[] = [];

  /** Virtual time, in sync-timer periods, and when each outstanding state request times out. */
  private now = 0;
  private readonly deadlines = new Map<string, number>();

  constructor(private readonly limits: ReplicaLimits = DEFAULT_REPLICA_LIMITS) {}

  addPortal(name: string): SimPortal {
    const self: { portal?: SimPortal } = {};
    const replica = new Replica(
      `p${this.portals.length}-${name}`,
      {
        publishLog: (msg) => this.publish(msg),
        sendState: (to, reply) => {
          const target = this.portals.find((p) => p.replica.origin === to);
          target?.stateInbox.push(reply);
        },
        applied: (command, reply, events) => {
          const portal = self.portal;
          if (portal === undefined || command.o !== portal.replica.origin) return;
          portal.replies.set(command.s, reply);
          portal.events.push(...events);
        },
        ownRepliesLost: () => {
          if (self.portal !== undefined) self.portal.lostReplies += 1;
        },
      },
      process.env.MQTT_SIM_DEBUG === undefined ? silentLogger : createLogger(`sim-${name}`, { level: 'debug' }),
      this.limits,
    );
    const portal: SimPortal = { name, replica, inbox: [], stateInbox: [], replies: new Map(), events: [], subscribed: false, seq: 0, dropNext: 0, lostReplies: 0 };
    self.portal = portal;
    this.portals.push(portal);
    return portal;
  }

  /** Subscribe, then ask for the state (what the backend does on every connection). */
  connect(portal: SimPortal, reason: 'start' | 'reconnected' = 'start'): void {
    portal.inbox.length = 0;
    portal.stateInbox.length = 0;
    portal.replica.suspend();
    portal.subscribed = true;
    portal.replica.startSync(reason);
  }

  disconnect(portal: SimPortal): void {
    portal.subscribed = false;
    portal.inbox.length = 0;
    portal.replica.suspend();
  }

  publish(msg: LogMessage): void {
    this.ordered.push(msg);
    for (const portal of this.portals) {
      if (!portal.subscribed) continue;
      if (portal.dropNext > 0) {
        portal.dropNext -= 1;
        continue;
      }
      portal.inbox.push(msg);
    }
  }

  /** A write accepted by `portal` (only a live portal accepts writes). Returns its seq, or undefined if refused. */
  write(portal: SimPortal, command: Command, options: { lostByBroker?: boolean; duplicate?: boolean } = {}): number | undefined {
    if (!portal.subscribed || !portal.replica.live) return undefined;
    portal.seq += 1;
    const msg: LogMessage = { t: 'cmd', o: portal.replica.origin, s: portal.seq, c: command };
    if (options.lostByBroker === true) return portal.seq;
    this.publish(msg);
    if (options.duplicate === true) this.publish(msg);
    return portal.seq;
  }

  /** Delivers one pending message to one portal; false when nothing is pending. */
  step(random: () => number): boolean {
    const busy = this.portals.filter((p) => p.subscribed && (p.inbox.length > 0 || p.stateInbox.length > 0));
    if (busy.length === 0) return false;
    const portal = busy[Math.floor(random() * busy.length)] as SimPortal;
    if (portal.stateInbox.length > 0 && (portal.inbox.length === 0 || random() < 0.5)) {
      portal.replica.receiveState(portal.stateInbox.shift() as StateReply);
    } else {
      portal.replica.receive(portal.inbox.shift() as LogMessage);
    }
    return true;
  }

  /**
   * Delivers everything; when nothing is left, lets the sync timer with the earliest deadline
   * expire; repeats until every portal is live. Every portal's timer runs for the same period
   * (one unit of virtual time, give or take a random quarter), as the backends' timers do: a
   * portal that has retried ten times has waited longer than one that has retried three times.
   */
  settle(random: () => number, maxRounds = 100): void {
    for (let round = 0; round < maxRounds; round++) {
      while (this.step(random));
      const waiting = this.portals.filter((p) => p.subscribed && !p.replica.live);
      if (waiting.length === 0) return;
      for (const portal of waiting) {
        const nonce = portal.replica.currentNonce;
        if (nonce !== undefined && !this.deadlines.has(nonce)) this.deadlines.set(nonce, this.now + 0.75 + random() / 2);
      }
      const due = waiting
        .map((portal) => ({ portal, nonce: portal.replica.currentNonce }))
        .filter((w): w is { portal: SimPortal; nonce: string } => w.nonce !== undefined)
        .sort((x, y) => (this.deadlines.get(x.nonce) as number) - (this.deadlines.get(y.nonce) as number))[0];
      if (due === undefined) continue;
      this.now = this.deadlines.get(due.nonce) as number;
      due.portal.replica.syncTimedOut(due.nonce);
    }
    throw new Error('the cluster did not settle');
  }

  /** Everyone publishes a consistency check (the backend does it every second). */
  checks(): void {
    for (const portal of this.portals) if (portal.subscribed && portal.replica.live) this.publish(portal.replica.checkMessage());
  }
}

/** A canonical text of a portal's data, to compare portals. */
export function fingerprint(replica: Replica): string {
  const records = [...replica.data.snapshot().records].sort((a, b) => `${a[0]}/${a[1]}`.localeCompare(`${b[0]}/${b[1]}`));
  return JSON.stringify(records);
}
