import type { MqttSyncStats } from '../../metrics/mqtt-metrics.js';
import mqtt, { type MqttClient } from 'mqtt';
import type { BrokerCredentials } from '../../net/cluster-secret.js';
import type { Command, Reply } from '../../domain/commands.js';
import type { ChangeEvent } from '../../domain/events.js';
import { pyDumps, type PyJsonValue } from '../../domain/pyjson.js';
import type { RecordKind, RecordOfKind } from '../../domain/records.js';
import type { Backend, ClientOrderPage } from '../../domain/backend.js';
import type { Logger } from '../../util/log.js';
import { execute } from '../../domain/machine.js';
import { decodeLogMessage, decodeStateMessage, decodeTraceRequest, DEFAULT_TOPIC_PREFIX, encode, PROTOCOL_LIMITS, topics, type CommandMessage, type LogMessage, type Topics } from './protocol.js';
import { DEFAULT_REPLICA_LIMITS, newId, Replica } from './replica.js';
import { MqttStageTrace, wallNow } from './stage-trace.js';
import { MAYBE_APPLIED, NOT_APPLIED } from '../../domain/store-replies.js';
import { assert } from '../../util/assert.js';

export interface MqttBackendOptions {
  /** mqtt://host:port of the embedded broker or any MQTT 3.1.1 broker (Mosquitto). */
  readonly brokerUrl: string;
  /** Presented to the broker; `ecom up`'s broker requires the cluster's (see net/cluster-secret.ts). */
  readonly credentials?: BrokerCredentials;
  readonly topicPrefix?: string;
  /** How long a portal waits for a peer's state before going on without it. */
  readonly syncTimeout_ms?: number;
  /** How long a write waits to come back through the broker before it gets a 503. */
  readonly writeTimeout_ms?: number;
  /** Writes published and not yet applied here; more get a 503 at once. */
  readonly pendingMax?: number;
  /** How often a portal publishes its (position, digest) for the others to compare. */
  readonly checkInterval_ms?: number;
  /** Longest pause between reconnection attempts (they start at 100 ms and double). */
  readonly reconnectMax_ms?: number;
  /** Never ask peers for the state (the chaos suite's planted bug mqtt-skip-state-transfer). */
  readonly joinsWithoutState?: boolean;
  readonly log: Logger;
}

const RECONNECT_FIRST_MS = 100;
/** How long a stopping portal waits for the broker to acknowledge its last messages. */
const CLOSE_DRAIN_MS = 2_000;
/**
 * Observer events waiting for the end of one turn of the event loop: each comes from a command
 * applied in that turn, and a turn applies at most what one socket read brought (a few hundred
 * commands of at most 1 MiB read at 64 KiB a time), each with a handful of events.
 */
const ANNOUNCE_MAX = 1_000_000;
/** mqtt.js's error for a message dropped by removeOutgoingMessage (see abandonSession). */
const REMOVED = 'Message removed';

interface PendingWrite {
  readonly resolve: (reply: Reply) => void;
  readonly timer: NodeJS.Timeout;
  /** When the write entered this backend, on the machine's clock (for the stage trace). */
  readonly started: number;
}

/** The log message being handled, with when its bytes were read and its handler entered: what the stage trace times. */
interface Arrival {
  readonly msg: LogMessage;
  readonly read: number;
  readonly handled: number;
}

/**
 * mqtt mode's backend: this portal's replica kept in step through the broker. A write is
 * published on the log topic and answered when it comes back and has been applied here, in
 * the broker's order, exactly as every other portal applies it.
 */
export class MqttBackend implements Backend {
  /** This portal's name in the log for the current connection: a new one after each reconnection. */
  private origin_ = newId();
  private readonly topics: Topics;
  private readonly client: MqttClient;
  private readonly replica: Replica;
  private readonly pending = new Map<number, PendingWrite>();
  private seq = 0;
  private syncTimer: NodeJS.Timeout | undefined;
  private armedNonce: string | undefined;
  private readonly checkTimer: NodeJS.Timeout;
  private checkedPosition = -1;
  private reconnect_ms = RECONNECT_FIRST_MS;
  private wasOnline = false;
  private failedAttempts = 0;
  private closed = false;
  private readonly liveWaiters = new Set<() => void>();
  private readonly trace = new MqttStageTrace();
  /** When the last bytes were read from the broker's socket, on the machine's clock. */
  private lastRead = 0;
  private arriving: Arrival | undefined;
  /** Observer events of this turn of the event loop, published at its end (see announce). */
  private readonly unannounced: ChangeEvent[] = [];
  private readonly syncTimeout_ms: number;
  private readonly writeTimeout_ms: number;
  private readonly pendingMax: number;
  private readonly reconnectMax_ms: number;
  private readonly log: Logger;

  private constructor(private readonly options: MqttBackendOptions) {
    // The first origin names the process in its logs; later sessions log their own origin when they start.
    this.log = options.log.child({ portal: this.origin_ });
    this.topics = topics(options.topicPrefix ?? DEFAULT_TOPIC_PREFIX);
    this.syncTimeout_ms = options.syncTimeout_ms ?? 1_500;
    this.writeTimeout_ms = options.writeTimeout_ms ?? 5_000;
    this.pendingMax = options.pendingMax ?? 10_000;
    this.reconnectMax_ms = options.reconnectMax_ms ?? 2_000;
    this.replica = new Replica(
      this.origin_,
      {
        publishLog: (msg) => this.publish(this.topics.log, encode(msg)),
        sendState: (to, reply) => this.publish(this.topics.stateFor(to), encode(reply)),
        applied: (command, reply, events) => this.onApplied(command, reply, events),
        ownRepliesLost: (seq) => this.failPendingUpTo(seq),
      },
      this.log,
      DEFAULT_REPLICA_LIMITS,
      options.joinsWithoutState ?? false,
    );
    // A fresh session on every connection: a portal that was away is resynchronised from a
    // peer anyway, and a dead portal's session would otherwise queue messages in the broker forever.
    this.client = mqtt.connect(options.brokerUrl, {
      protocolVersion: 4,
      clean: true,
      clientId: `ecom-${this.origin_}`,
      resubscribe: false,
      queueQoSZero: false,
      reconnectPeriod: RECONNECT_FIRST_MS,
      connectTimeout: 5_000,
      keepalive: 5,
      ...options.credentials,
    });
    this.client.on('connect', () => this.onConnect());
    this.client.on('message', (topic, payload) => this.onMessage(topic, payload));
    this.client.on('close', () => this.onClose());
    this.client.on('error', (err) => {
      // While retrying, the same refusal repeats at every attempt; onClose reports the outage.
      const level = this.failedAttempts === 0 ? 'warn' : 'debug';
      // CONNACK 4 and 5: the broker wants credentials these are not.
      const code = (err as { code?: unknown }).code;
      const hint = code === 4 || code === 5 ? '; the broker wants the cluster\'s credentials: give this portal --cluster-secret FILE' : '';
      this.log[level]({ err: err.message, broker: options.brokerUrl }, `MQTT connection error${hint}`);
    });
    this.checkTimer = setInterval(() => this.publishCheck(), options.checkInterval_ms ?? 1_000);
    this.checkTimer.unref();
  }

  get origin(): string {
    return this.origin_;
  }

  /** How this portal's replica of the log stands, for its metrics. */
  syncStats(): MqttSyncStats {
    return this.replica.syncStats();
  }

  /** Connects and resolves once this portal holds the current state (from a peer, or empty if none answered). */
  static async start(options: MqttBackendOptions): Promise<MqttBackend> {
    const backend = new MqttBackend(options);
    await backend.whenLive();
    return backend;
  }

  get isLive(): boolean {
    return this.client.connected && this.replica.live;
  }

  whenLive(): Promise<void> {
    if (this.isLive) return Promise.resolve();
    return new Promise((resolve) => this.liveWaiters.add(resolve));
  }

  execute(command: Command): Promise<Reply> {
    // Closing: nothing published now would be answered.
    if (this.closed || !this.isLive) return Promise.resolve(NOT_APPLIED);
    if (this.pending.size >= this.pendingMax) {
      this.log.warn({ pending: this.pending.size, limit: this.pendingMax }, 'too many writes in flight; refusing this one');
      return Promise.resolve(NOT_APPLIED);
    }
    const seq = this.seq + 1;
    const at = wallNow();
    const payload = encode({ t: 'cmd', o: this.origin_, s: seq, c: command, at: Math.round(at * 1000) / 1000 });
    if (payload.length > PROTOCOL_LIMITS.logMessageMax_bytes) return Promise.resolve(this.oversized(command, payload.length));
    this.seq = seq;
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.finish(seq, MAYBE_APPLIED), this.writeTimeout_ms);
      this.pending.set(seq, { resolve, timer, started: at });
      this.client.publish(this.topics.log, payload, { qos: 1 }, (err) => {
        // mqtt.js keeps an unacknowledged QoS 1 message and sends it again after a reconnect,
        // so a failed publish may still be applied later: the reply must say so.
        if (err) {
          if (err.message !== REMOVED) this.log.warn({ err: err.message, seq }, 'publishing a write failed');
          this.finish(seq, MAYBE_APPLIED);
        }
      });
      this.trace.published(at);
    });
  }

  /**
   * A command too large for the log carries more than the 64 KiB of data the rules accept,
   * so the machine rejects it whatever the state: that verdict can be given here, without
   * the log, because a rejected command changes nothing anywhere.
   */
  private oversized(command: Command, size_bytes: number): Reply {
    const { reply } = execute(command, this.replica.data);
    assert(reply.code !== 0, () => `a command of ${size_bytes} bytes, over the log limit, would be accepted by the rules`);
    return reply;
  }

  read<K extends RecordKind>(kind: K, id: string): Promise<RecordOfKind<K> | undefined> {
    // Reads answer from the local copy even while the broker is away (docs/spec.md R-CONS-5).
    return Promise.resolve(this.replica.data.get(kind, id));
  }

  clientOrders(cid: string, afterSeq: number, limit: number): Promise<ClientOrderPage> {
    return Promise.resolve(this.replica.data.clientOrders(cid, afterSeq, limit));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.checkTimer);
    this.trace.stop();
    this.clearSyncTimer();
    for (const seq of [...this.pending.keys()]) this.finish(seq, MAYBE_APPLIED);
    this.flushAnnouncements();
    // Observer events go at QoS 0 (announce): nothing to wait an acknowledgement for, but mqtt.js
    // hands them to the socket on a later tick; the forced end below would drop them before that.
    await new Promise((resolve) => setImmediate(resolve));
    await this.drainOutgoing(CLOSE_DRAIN_MS);
    // Forced: mqtt.js's graceful end waits for acknowledgements without a bound, and was seen to
    // wait forever (test/mqtt/session.test.ts); whatever could be delivered has been by now.
    await this.client.endAsync(true);
  }

  /** Waits (at most `max_ms`) for the broker to acknowledge what this portal published, e.g. its last observer events. */
  private async drainOutgoing(max_ms: number): Promise<void> {
    const empty = () => !this.client.connected || Object.keys(this.client.outgoing).length === 0;
    if (empty()) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.client.removeListener('packetreceive', check);
        this.client.removeListener('close', done);
        resolve();
      };
      // mqtt.js announces a packet before it handles it: look once the acknowledgement is applied.
      const check = () =>
        setImmediate(() => {
          if (empty()) done();
        });
      const timer = setTimeout(done, max_ms);
      this.client.on('packetreceive', check);
      this.client.on('close', done);
    });
  }

  private onConnect(): void {
    // Each write is a small packet waiting for its echo: with Nagle's algorithm on, it waits
    // for the peer's delayed ACK and every write takes about 40 ms instead of well under one.
    const stream = this.client.stream as { setNoDelay?: (noDelay: boolean) => unknown };
    stream.setNoDelay?.(true);
    // Before mqtt.js's own listener, which parses and handles the first message of the read at
    // once. Always, not only while tracing: the read that carries the first trace request is
    // followed by log messages whose read time the trace then needs.
    this.client.stream.prependListener('data', () => {
      this.lastRead = wallNow();
    });
    this.reconnect_ms = RECONNECT_FIRST_MS;
    this.failedAttempts = 0;
    this.client.options.reconnectPeriod = RECONNECT_FIRST_MS;
    const reason = this.wasOnline ? 'reconnected' : 'start';
    this.log.info({ broker: this.options.brokerUrl }, reason === 'start' ? 'connected to the MQTT broker' : 'reconnected to the MQTT broker');
    this.replica.suspend();
    if (this.wasOnline) {
      // A new session under a new name: see onClose. Sequence numbers restart with it.
      const previous = this.origin_;
      this.origin_ = newId();
      this.seq = 0;
      this.replica.renew(this.origin_);
      this.log.info({ previous, origin: this.origin_ }, 'new session: this portal\'s commands now carry a new origin');
    }
    this.wasOnline = true;
    const origin = this.origin_;
    // The log at QoS 0: with a clean session the broker never sends a message again anyway (a
    // lost connection is repaired by a state transfer), so QoS 1 towards the portals bought
    // only a PUBACK per message per portal: a socket write here, a read and bookkeeping in the
    // broker. Over one TCP connection QoS 0 loses nothing, and every message of the topic then
    // takes the same path through the broker, in order. Trace requests are not ordered with
    // the log and a lost one only costs the bench its figures: QoS 0 too.
    const subscriptions = { [this.topics.log]: { qos: 0 as const }, [this.topics.stateFor(origin)]: { qos: 1 as const }, [this.topics.trace]: { qos: 0 as const } };
    this.client.subscribe(subscriptions, (err, granted) => {
      const refused = granted?.find((g) => g.qos === 128);
      if (err || refused !== undefined) {
        this.log.error({ err: err?.message, refused: refused?.topic }, 'the broker refused the subscription; reconnecting');
        this.client.stream.destroy();
        return;
      }
      if (!this.client.connected) return;
      this.replica.startSync(reason);
      this.afterReplicaStep();
    });
  }

  private armSyncTimer(nonce: string): void {
    this.clearSyncTimer();
    this.armedNonce = nonce;
    // After a reconnection every portal may be coming back from the same broker restart, each
    // at its own point of the backoff: wait long enough for all of them to have asked, so the
    // one that applied most is known before anyone goes on alone.
    const wait_ms = this.replica.syncReason === 'reconnected' ? this.syncTimeout_ms + this.reconnectMax_ms : this.syncTimeout_ms;
    this.syncTimer = setTimeout(() => {
      this.syncTimer = undefined;
      this.armedNonce = undefined;
      this.replica.syncTimedOut(nonce);
      this.afterReplicaStep();
    }, wait_ms);
  }

  private onMessage(topic: string, payload: Buffer): void {
    if (topic === this.topics.log) {
      const handled = this.trace.on ? wallNow() : 0;
      const msg = decodeLogMessage(payload);
      if ('error' in msg) {
        // Every portal receives the same bytes and skips them alike, so this cannot split them.
        this.log.warn({ error: msg.error, size_bytes: payload.length }, 'skipping a malformed message on the log topic');
        return;
      }
      this.arriving = this.trace.on ? { msg, read: this.lastRead, handled } : undefined;
      this.replica.receive(msg);
      this.arriving = undefined;
    } else if (topic === this.topics.trace) {
      this.answerTrace(payload);
      return;
    } else if (topic === this.topics.stateFor(this.origin_)) {
      const reply = decodeStateMessage(payload);
      if ('error' in reply && !('n' in reply)) {
        this.log.error({ error: reply.error, size_bytes: payload.length }, 'ignoring a malformed state transfer');
        return;
      }
      this.replica.receiveState(reply);
    }
    this.afterReplicaStep();
  }

  /** A message may have finished a sync (release start-up, clear the timer) or started a new one (arm its timer). */
  private afterReplicaStep(): void {
    if (this.isLive) {
      this.clearSyncTimer();
      for (const resolve of this.liveWaiters) resolve();
      this.liveWaiters.clear();
      return;
    }
    const nonce = this.replica.currentNonce;
    if (nonce !== undefined && nonce !== this.armedNonce) this.armSyncTimer(nonce);
  }

  private clearSyncTimer(): void {
    if (this.syncTimer !== undefined) clearTimeout(this.syncTimer);
    this.syncTimer = undefined;
    this.armedNonce = undefined;
  }

  private onClose(): void {
    if (this.closed) return;
    if (this.client.connected === false && this.wasOnline && this.replica.live) {
      this.log.warn({ broker: this.options.brokerUrl }, 'lost the MQTT broker: writes get 503, reads answer from the local copy; reconnecting');
    }
    this.replica.suspend();
    this.abandonSession();
    this.clearSyncTimer();
    this.client.options.reconnectPeriod = this.reconnect_ms;
    this.reconnect_ms = Math.min(this.reconnect_ms * 2, this.reconnectMax_ms);
    this.failedAttempts += 1;
    // Say it on the first failure and then now and then, not at every retry.
    if (!this.wasOnline && (this.failedAttempts === 1 || this.failedAttempts % 20 === 0)) {
      this.log.warn(
        { broker: this.options.brokerUrl, attempts: this.failedAttempts },
        'cannot reach the MQTT broker (is "ecom broker" or Mosquitto running there?); retrying',
      );
    }
  }

  /**
   * Nothing of this connection is sent again on the next one. mqtt.js would resend the QoS 1
   * messages the broker had not acknowledged as soon as it reconnects, before every peer has
   * subscribed again after a broker restart: a resent command would then reach some portals and
   * not others, and those going on without a peer's state would diverge (found by the chaos
   * suite: docs/chaos.md). So the writes in flight are answered "may have been applied" now,
   * their messages dropped, and the next connection is a new session under a new origin, whose
   * numbering has no gap for the commands lost with this one.
   */
  private abandonSession(): void {
    for (const messageId of Object.keys(this.client.outgoing)) this.client.removeOutgoingMessage(Number(messageId));
    for (const seq of [...this.pending.keys()]) this.finish(seq, MAYBE_APPLIED);
  }

  private onApplied(command: CommandMessage, reply: Reply, events: readonly ChangeEvent[]): void {
    const applied = this.trace.on ? wallNow() : 0;
    // Only the command being delivered now: one replayed from a buffer was waiting for a state.
    const arrival = this.arriving;
    if (arrival !== undefined && arrival.msg === command && command.at !== undefined) this.trace.applied(command.at, arrival.read, arrival.handled, applied);
    if (command.o !== this.origin_) return;
    const started = this.pending.get(command.s)?.started;
    this.finish(command.s, reply);
    if (started !== undefined) this.trace.answered(started, applied);
    // Only the portal that received the write announces it, so observers hear each change once.
    this.announce(events);
  }

  /**
   * Publishes observer events after the replies of this turn of the event loop have gone out:
   * published at once, their socket write (mqtt.js writes on the next tick, before any promise
   * continuation) came before the gRPC reply, and it wakes the broker, which on a busy machine
   * may take the CPU before the reply is written. One socket write for all of a turn's events.
   * At QoS 0: with a clean session an acknowledgement from the broker promised nothing a live
   * TCP connection does not, and cost a broker write and a wake-up of this portal per write.
   */
  private announce(events: readonly ChangeEvent[]): void {
    if (events.length === 0) return;
    if (this.unannounced.length === 0) setImmediate(() => this.flushAnnouncements());
    assert(this.unannounced.length + events.length <= ANNOUNCE_MAX, () => `more than ${ANNOUNCE_MAX} observer events waiting for one turn of the event loop`);
    this.unannounced.push(...events);
  }

  private flushAnnouncements(): void {
    const events = this.unannounced.splice(0);
    if (events.length === 0 || !this.client.connected) return;
    const stream = this.client.stream;
    stream.cork();
    for (const event of events) {
      const body: PyJsonValue = event.data === undefined ? { op: event.op, key: event.key } : { op: event.op, key: event.key, data: event.data };
      this.publish(event.topic, Buffer.from(pyDumps(body), 'utf8'), 0);
    }
    process.nextTick(() => stream.uncork());
  }

  /** `ecom bench --trace` asks: send this portal's stage timings since the last request, and start a new window. */
  private answerTrace(payload: Buffer): void {
    const request = decodeTraceRequest(payload);
    if ('error' in request) {
      this.log.debug({ error: request.error }, 'ignoring a malformed trace request');
      return;
    }
    this.publish(this.topics.traceReplyFor(request.n), encode({ n: request.n, from: this.origin_, pid: process.pid, ...this.trace.read() }));
  }

  private failPendingUpTo(seq: number): void {
    for (const pendingSeq of [...this.pending.keys()]) if (pendingSeq <= seq) this.finish(pendingSeq, MAYBE_APPLIED);
  }

  private finish(seq: number, reply: Reply): void {
    const entry = this.pending.get(seq);
    if (entry === undefined) return;
    this.pending.delete(seq);
    clearTimeout(entry.timer);
    entry.resolve(reply);
  }

  private publish(topic: string, payload: Buffer, qos: 0 | 1 = 1): void {
    if (!this.client.connected) return;
    this.client.publish(topic, payload, { qos }, (err) => {
      if (err && !this.closed && err.message !== REMOVED) this.log.warn({ err: err.message, topic }, 'publish failed');
    });
  }

  private publishCheck(): void {
    if (!this.isLive || this.replica.position === this.checkedPosition) return;
    this.checkedPosition = this.replica.position;
    this.publish(this.topics.log, encode(this.replica.checkMessage()));
  }
}
