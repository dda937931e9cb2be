import { createHash, randomBytes } from 'node:crypto';
import type { Reply } from '../../domain/commands.js';
import { changeEvents, type ChangeEvent } from '../../domain/events.js';
import { execute, type Outcome } from '../../domain/machine.js';
import { MemoryState } from '../../domain/memory-state.js';
import type { MqttSyncStats } from '../../metrics/mqtt-metrics.js';
import { message } from '../../domain/messages.js';
import type { Logger } from '../../util/log.js';
import type { CommandMessage, LogMessage, StateRefusal, StateReply } from './protocol.js';
import { assert } from '../../util/assert.js';

/**
 * One portal's copy of the data and its place in the broker's order. No sockets and no
 * timers: the backend feeds it messages in the order the broker delivered them and it says
 * what to publish, so the whole protocol can be tested (and replayed) in one process.
 *
 * Two modes:
 * - live: every log message is applied as it arrives.
 * - syncing: log messages are buffered while this portal waits for a peer's state; the state
 *   is taken at the point of the log where the peer saw our request, so the buffer after our
 *   own request is exactly what the state does not contain yet.
 */

export interface ReplicaEffects {
  /** Publish on the log topic (state requests, consistency checks). */
  publishLog(message: LogMessage): void;
  /** Send a state transfer (or a refusal) to the portal `to`. */
  sendState(to: string, reply: StateReply | StateRefusal): void;
  /** A command was applied here, in the broker's order; `events` are computed for this portal's own commands only. */
  applied(command: CommandMessage, reply: Reply, events: readonly ChangeEvent[]): void;
  /** Own commands up to `seq` were applied inside a state received from a peer: their replies are unknown here. */
  ownRepliesLost(seq: number): void;
}

export interface ReplicaLimits {
  /** Log messages held while waiting for a peer's state. */
  readonly bufferMax_messages: number;
  /** How many recent (position → digest) pairs are kept to compare with peers' checks. */
  readonly digestHistory: number;
  /** This portal does not send a state larger than this (as JSON); it tells the requester why instead. */
  readonly snapshotMax_bytes: number;
}

export const DEFAULT_REPLICA_LIMITS: ReplicaLimits = {
  bufferMax_messages: 200_000,
  digestHistory: 10_000,
  snapshotMax_bytes: 64 * 1024 * 1024,
};

export const GENESIS_DIGEST = '0000000000000000';

/** The running digest after one more command: equal digests at a position mean the same commands in the same order. */
export function nextDigest(digest: string, origin: string, seq: number): string {
  return createHash('sha256').update(`${digest}|${origin}|${seq}`).digest('hex').slice(0, 16);
}

export function newId(): string {
  return randomBytes(8).toString('hex');
}

export type SyncReason = 'start' | 'reconnected' | 'gap' | 'behind' | 'divergent' | 'overflow';

interface SyncAttempt {
  readonly nonce: string;
  readonly reason: SyncReason;
  /** Index in the buffer of our own request, once the broker has delivered it back to us. */
  requestIndex?: number;
  /** A peer's state that arrived before our own request came back through the log. */
  reply?: StateReply;
  /** After an overflow the buffer no longer covers the gap: only a peer's state can repair it. */
  readonly needsPeer: boolean;
  /**
   * A peer that can answer exists: it published a command, a check or a state after our
   * request, or it is itself asking with more commands applied than we have. Silence then
   * means "not yet", not "nobody there".
   */
  peerSeen: boolean;
  /** A peer asking at the same time has applied more than we have: wait for it, across retries. */
  readonly aheadSeen: { value: boolean };
  /**
   * Peers seen asking with fewer commands applied than we have, to whom we asked again so that
   * they learn a more complete peer is coming back (across retries, once per peer): a peer that
   * subscribed after our request was published never saw it, and would go on alone.
   */
  readonly reannouncedTo: Set<string>;
  /** Requests made for this one sync, including this one. */
  readonly attempt: number;
}

/** Requests a portal makes when a live peer exists but its answer does not arrive, before going on without it. */
const SYNC_ATTEMPTS_MAX = 3;
/**
 * Requests a portal makes while a peer that has applied more is itself still waiting (after a
 * broker restart, everyone is): going on alone would fork the history, so wait longer, but
 * not forever, in case that peer has died.
 */
const AHEAD_ATTEMPTS_MAX = 10;

export class Replica {
  private state = new MemoryState();
  /** Highest seq applied per origin: QoS 1 may deliver a command twice; it is applied once. */
  private applied = new Map<string, number>();
  private position_ = 0;
  private digest_ = GENESIS_DIGEST;
  private readonly history = new Map<number, string>();
  private buffer: LogMessage[] = [];
  private sync: SyncAttempt | undefined;
  private suspended = true;
  /** For metrics: the highest position a peer announced, and whole states sent and installed. */
  private peerPosition = 0;
  private statesSent = 0;
  private statesReceived = 0;

  constructor(
    private origin_: string,
    private readonly effects: ReplicaEffects,
    private readonly log: Logger,
    private readonly limits: ReplicaLimits = DEFAULT_REPLICA_LIMITS,
    /**
     * Go live at once instead of asking the peers for their state. A seam for the chaos suite's
     * planted bug mqtt-skip-state-transfer (src/faults/planted.ts): a portal that does this forks.
     */
    private readonly joinsWithoutState = false,
  ) {
    this.history.set(0, GENESIS_DIGEST);
  }

  /** The name under which this portal's commands and requests appear in the log. */
  get origin(): string {
    return this.origin_;
  }

  /**
   * Starts a new session under a new name, with its own sequence numbers from 1. Commands of the
   * previous session that were lost, or delivered only to some portals, can then never show up
   * as a gap in the new session's numbering. Only while suspended: nothing of ours is in flight.
   */
  renew(origin: string): void {
    assert(this.suspended, 'a replica renews its origin only while suspended (between connections)');
    this.origin_ = origin;
  }

  /** Live: in step with the log, so writes may be accepted and peers may be answered. */
  get live(): boolean {
    return !this.suspended && this.sync === undefined;
  }

  /** The nonce of the state request this portal is waiting on, if any. */
  get currentNonce(): string | undefined {
    return this.sync?.nonce;
  }

  /** Why this portal is waiting for a state, if it is. */
  get syncReason(): SyncReason | undefined {
    return this.sync?.reason;
  }

  get position(): number {
    return this.position_;
  }

  /** What this portal's metrics show (src/metrics/mqtt-metrics.ts). */
  syncStats(): MqttSyncStats {
    const { position_: position, peerPosition, statesSent, statesReceived } = this;
    return { position, peerPosition, buffered: this.buffer.length, statesSent, statesReceived, live: this.live };
  }

  get digest(): string {
    return this.digest_;
  }

  get data(): MemoryState {
    return this.state;
  }

  lastApplied(origin: string): number {
    return this.applied.get(origin) ?? 0;
  }

  /** The connection is gone: nothing arrives until the next `startSync`; the local state still answers reads. */
  suspend(): void {
    this.suspended = true;
    this.sync = undefined;
    this.buffer = [];
  }

  /**
   * Starts buffering and publishes a request for the peers' state. Call it only once the
   * subscription to the log is confirmed, so that the buffer starts before the request.
   */
  startSync(
    reason: SyncReason,
    firstBuffered: readonly LogMessage[] = [],
    attempt = 1,
    aheadSeen = { value: reason === 'behind' },
    reannouncedTo = new Set<string>(),
  ): string {
    this.suspended = false;
    const nonce = newId();
    if (this.joinsWithoutState) {
      this.sync = undefined;
      this.buffer = [];
      this.drain(firstBuffered, true);
      return nonce;
    }
    this.sync = { nonce, reason, needsPeer: reason === 'overflow', peerSeen: false, aheadSeen, reannouncedTo, attempt };
    this.buffer = [...firstBuffered];
    this.log.info({ reason, nonce, attempt, position: this.position_ }, 'asking peers for the current state');
    this.effects.publishLog({ t: 'sync', o: this.origin_, n: nonce, p: this.position_ });
    return nonce;
  }

  /** A message from the log topic, in broker order. */
  receive(msg: LogMessage): void {
    if (this.suspended) return;
    if (msg.t !== 'cmd' && msg.o !== this.origin_) this.peerPosition = Math.max(this.peerPosition, msg.p);
    const sync = this.sync;
    if (sync === undefined) {
      this.handleLive(msg, false);
      return;
    }
    if (this.buffer.length >= this.limits.bufferMax_messages) {
      this.log.error(
        { buffered: this.buffer.length, limit: this.limits.bufferMax_messages },
        'too many commands arrived while waiting for a peer\'s state; dropping them and asking again (only a peer can repair this now)',
      );
      this.startSync('overflow');
      return;
    }
    let behindPeer: { origin: string; position: number } | undefined;
    if (msg.t === 'sync' && msg.o === this.origin_ && msg.n === sync.nonce) sync.requestIndex = this.buffer.length;
    else if (msg.o !== this.origin_ && msg.t === 'sync' && msg.p > this.position_) sync.aheadSeen.value = true;
    else if (msg.o !== this.origin_ && msg.t === 'sync' && msg.p < this.position_ && !sync.reannouncedTo.has(msg.o)) {
      sync.reannouncedTo.add(msg.o);
      behindPeer = { origin: msg.o, position: msg.p };
    } else if (sync.requestIndex !== undefined && msg.t !== 'sync' && msg.o !== this.origin_) sync.peerSeen = true;
    this.buffer.push(msg);
    if (behindPeer !== undefined) {
      // Our request may have been published before that peer subscribed (after a broker
      // restart each portal reconnects at its own moment): ask again, so that it sees a request
      // with more commands applied than it has and waits for us instead of going on alone.
      this.log.info({ peer: behindPeer.origin, theirs: behindPeer.position, ours: this.position_ }, 'a peer that applied less is asking too; asking again so that it waits for this portal');
      this.startSync(sync.reason, this.buffer, sync.attempt, sync.aheadSeen, sync.reannouncedTo);
      return;
    }
    if (sync.requestIndex !== undefined && sync.reply !== undefined) this.install(sync.reply, sync.requestIndex);
  }

  /** A state transfer addressed to this portal. */
  receiveState(reply: StateReply | StateRefusal): void {
    const sync = this.sync;
    if (sync === undefined || reply.n !== sync.nonce) return;
    sync.peerSeen = true;
    if ('error' in reply) {
      this.log.error({ from: reply.from, error: reply.error }, 'a peer could not send its state; still waiting for another');
      return;
    }
    if (sync.reply !== undefined) return;
    if (sync.requestIndex === undefined) {
      sync.reply = reply;
      return;
    }
    this.install(reply, sync.requestIndex);
  }

  /**
   * No peer answered within the bound. At start-up that means no live peer: start from what
   * we have (empty). After a gap it means every live portal saw the same gap (the broker lost
   * those commands for everyone): all of them accept it the same way and stay identical.
   */
  syncTimedOut(nonce: string): void {
    const sync = this.sync;
    if (sync === undefined || sync.nonce !== nonce) return;
    if (sync.needsPeer) {
      this.log.error({ reason: sync.reason }, 'no peer sent its state and buffered commands were dropped; asking again');
      this.startSync('overflow');
      return;
    }
    if ((sync.peerSeen && sync.attempt < SYNC_ATTEMPTS_MAX) || (sync.aheadSeen.value && sync.attempt < AHEAD_ATTEMPTS_MAX)) {
      // A peer that can answer exists but its state (or our own request) did not come back
      // yet: ask again, keeping the buffer in case we must go on without it after all.
      this.log.warn(
        { reason: sync.reason, attempt: sync.attempt, aheadSeen: sync.aheadSeen.value },
        'a peer that can answer exists but no state arrived yet; asking again',
      );
      this.startSync(sync.reason, this.buffer, sync.attempt + 1, sync.aheadSeen, sync.reannouncedTo);
      return;
    }
    if (sync.reason === 'start') {
      this.log.warn(
        { position: this.position_ },
        'no peer answered: starting with an EMPTY data set (mqtt mode keeps data in memory only; the first portal always starts empty)',
      );
    } else {
      this.log.warn(
        { reason: sync.reason, position: this.position_ },
        'no live peer answered: continuing from this portal\'s own state (every portal that saw the same gap does the same)',
      );
    }
    const messages = this.buffer;
    this.buffer = [];
    this.sync = undefined;
    this.drain(messages, true);
  }

  /** This portal's whole state as of now, for a peer that asked. */
  stateReply(nonce: string): StateReply {
    return {
      n: nonce,
      from: this.origin_,
      position: this.position_,
      digest: this.digest_,
      applied: Object.fromEntries(this.applied),
      records: this.state.snapshot().records,
    };
  }

  private install(reply: StateReply, requestIndex: number): void {
    const after = this.buffer.slice(requestIndex + 1);
    this.buffer = [];
    this.sync = undefined;
    this.state = MemoryState.fromSnapshot({ records: reply.records });
    this.statesReceived++;
    this.applied = new Map(Object.entries(reply.applied));
    this.position_ = reply.position;
    this.digest_ = reply.digest;
    this.history.clear();
    this.history.set(reply.position, reply.digest);
    this.log.info(
      { from: reply.from, position: reply.position, records: reply.records.length, replaying: after.length },
      'installed a peer\'s state; replaying the commands that followed our request',
    );
    const ownInState = this.applied.get(this.origin_);
    if (ownInState !== undefined) this.effects.ownRepliesLost(ownInState);
    this.drain(after, false);
  }

  /** Applies messages in order; if one of them starts a new sync, the rest go to its buffer. */
  private drain(messages: readonly LogMessage[], acceptGaps: boolean): void {
    for (const [index, msg] of messages.entries()) {
      if (this.sync !== undefined) {
        for (const rest of messages.slice(index)) this.receive(rest);
        return;
      }
      this.handleLive(msg, acceptGaps);
    }
  }

  private handleLive(msg: LogMessage, acceptGaps: boolean): void {
    switch (msg.t) {
      case 'cmd':
        this.handleCommand(msg, acceptGaps);
        return;
      case 'sync':
        if (msg.o === this.origin_) return;
        if (msg.p > this.position_) {
          // Answering would set the requester back to our shorter history: we are the one behind.
          this.log.warn({ peer: msg.o, theirs: msg.p, ours: this.position_ }, 'a peer asking for the state has applied more than this portal; resynchronising');
          this.startSync('behind');
          return;
        }
        this.answer(msg.o, msg.n);
        return;
      case 'check':
        if (msg.o !== this.origin_) this.compare(msg.o, msg.p, msg.d);
        return;
    }
  }

  private handleCommand(msg: CommandMessage, acceptGaps: boolean): void {
    const last = this.applied.get(msg.o) ?? 0;
    if (msg.s <= last) return; // a QoS 1 redelivery, or already inside a state we installed
    if (msg.s > last + 1) {
      if (!acceptGaps) {
        this.log.warn({ origin: msg.o, expected: last + 1, got: msg.s }, 'gap in the command stream: commands were missed here');
        this.startSync('gap', [msg]);
        return;
      }
      this.log.warn({ origin: msg.o, from: last + 1, to: msg.s - 1 }, 'commands lost by the broker for every portal are skipped');
    }
    this.apply(msg);
  }

  private apply(msg: CommandMessage): void {
    let outcome: Outcome;
    try {
      outcome = execute(msg.c, this.state);
    } catch (err) {
      // Deterministic like the machine itself: every portal fails the same command the same way.
      this.log.error({ err, command: msg.c }, 'the state machine failed on a command; it is rejected everywhere');
      const detail = err instanceof Error ? err.message : String(err);
      outcome = { reply: { code: 500, message: message('internalError', { detail }) }, writes: [] };
    }
    // Only the portal that received the write announces its changes (see the backend).
    const events = msg.o === this.origin_ ? changeEvents((write) => this.state.get(write.key.kind, write.key.id), outcome.writes) : [];
    this.state.apply(outcome.writes);
    this.applied.set(msg.o, msg.s);
    this.position_ += 1;
    this.digest_ = nextDigest(this.digest_, msg.o, msg.s);
    this.history.set(this.position_, this.digest_);
    if (this.history.size > this.limits.digestHistory) {
      const oldest = this.history.keys().next();
      if (oldest.done !== true) this.history.delete(oldest.value);
    }
    this.effects.applied(msg, outcome.reply, events);
  }

  private answer(to: string, nonce: string): void {
    const reply = this.stateReply(nonce);
    const size_bytes = Buffer.byteLength(JSON.stringify(reply));
    if (size_bytes > this.limits.snapshotMax_bytes) {
      const error = `state of ${size_bytes} bytes exceeds the transfer limit of ${this.limits.snapshotMax_bytes} bytes`;
      this.log.error({ to, size_bytes }, error);
      this.effects.sendState(to, { n: nonce, from: this.origin_, error });
      return;
    }
    this.effects.sendState(to, reply);
    this.statesSent++;
  }

  /**
   * A peer's check was published after it had applied `position` commands, so by the time it
   * reaches us through the log we have applied at least as many, and our digest at that
   * position must be the same.
   */
  private compare(peer: string, position: number, digest: string): void {
    if (position > this.position_) {
      this.log.error({ peer, theirs: position, ours: this.position_ }, 'a peer has applied commands this portal never received; resynchronising');
      this.startSync('behind');
      return;
    }
    const ours = this.history.get(position);
    if (ours === undefined || ours === digest) return;
    this.log.error({ peer, position, ours, theirs: digest }, 'DIVERGENCE: a peer applied different commands up to the same position');
    // The side that has applied fewer commands takes the other's state: a peer whose check is
    // older than our position will see one of ours and resync itself. At equal positions,
    // exactly one side of the pair moves, so the two cannot keep swapping states.
    if (position === this.position_ && this.origin_ > peer) this.startSync('divergent');
  }

  /** The check this portal publishes now and then, when it has applied something since the last one. */
  checkMessage(): LogMessage {
    return { t: 'check', o: this.origin_, p: this.position_, d: this.digest_ };
  }
}
