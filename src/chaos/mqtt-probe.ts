import mqtt, { type MqttClient } from 'mqtt';
import { decodeStateMessage, encode, topics, type StateReply, type Topics } from '../modes/mqtt/protocol.js';
import { newId } from '../modes/mqtt/replica.js';

/**
 * The harness's window on mqtt-mode portals: it asks for the state on the log topic exactly as a
 * joining portal does, and every LIVE portal answers with its whole state at the point of the log
 * where it met the request. The request has one position in the log for everyone, so portals that
 * agree send identical states; and only a portal in step with the log answers, so "all answered"
 * means "all live". The probe never installs anything and asks with position 0, so no portal
 * takes it for a peer that is ahead of it.
 */
export class StateProbe {
  readonly origin = `chaos-probe-${newId()}`;
  private readonly topics: Topics;
  private readonly client: MqttClient;
  /** Nonce → what to do with an answer to that request. */
  private readonly waiting = new Map<string, (reply: StateReply) => void>();
  private readonly errors: string[] = [];
  private subscribed = false;
  private readonly subscribedWaiters = new Set<() => void>();

  constructor(brokerUrl: string, prefix: string) {
    this.topics = topics(prefix);
    this.client = mqtt.connect(brokerUrl, { protocolVersion: 4, clean: true, clientId: this.origin, reconnectPeriod: 200, connectTimeout: 2_000 });
    this.client.on('error', () => undefined);
    this.client.on('close', () => (this.subscribed = false));
    this.client.on('connect', () =>
      this.client.subscribe(this.topics.stateFor(this.origin), { qos: 1 }, (err) => {
        if (err) return;
        this.subscribed = true;
        for (const wake of this.subscribedWaiters) wake();
        this.subscribedWaiters.clear();
      }),
    );
    this.client.on('message', (_topic, payload) => {
      const reply = decodeStateMessage(payload);
      if ('error' in reply) {
        this.errors.push('from' in reply ? `${String(reply.from)}: ${reply.error}` : reply.error);
        return;
      }
      this.waiting.get(reply.n)?.(reply);
    });
  }

  /**
   * Asks once and waits until `expected` portals have answered or `wait_ms` has passed; returns
   * the answers (possibly fewer). Throws only if the broker cannot be reached in that time.
   */
  async ask(expected: number, wait_ms: number): Promise<StateReply[]> {
    const deadline = Date.now() + wait_ms;
    if (!this.subscribed) {
      const ready = await new Promise<boolean>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          resolve(true);
        };
        const timer = setTimeout(() => {
          this.subscribedWaiters.delete(wake);
          resolve(false);
        }, wait_ms);
        this.subscribedWaiters.add(wake);
      });
      if (!ready) throw new Error('the state probe could not reach the broker');
    }
    const nonce = newId();
    return new Promise<StateReply[]>((resolve) => {
      const got: StateReply[] = [];
      const finish = () => {
        clearTimeout(timer);
        this.waiting.delete(nonce);
        resolve(got);
      };
      const timer = setTimeout(finish, Math.max(0, deadline - Date.now()));
      this.waiting.set(nonce, (reply) => {
        got.push(reply);
        if (got.length >= expected) finish();
      });
      this.client.publish(this.topics.log, encode({ t: 'sync', o: this.origin, n: nonce, p: 0 }), { qos: 1 });
    });
  }

  /** Asks again and again until `expected` portals answer the same request; rejects after `timeout_ms`. */
  async allLive(expected: number, timeout_ms: number): Promise<StateReply[]> {
    const deadline = Date.now() + timeout_ms;
    let last: StateReply[] = [];
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      try {
        last = await this.ask(expected, Math.min(left, 2_000));
      } catch {
        continue;
      }
      if (last.length >= expected) return last;
    }
    const errors = this.errors.length > 0 ? `; refusals: ${this.errors.slice(-3).join('; ')}` : '';
    throw new Error(`only ${last.length} of ${expected} portals answered a state request within ${timeout_ms} ms${errors}`);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.client.end(true, {}, () => resolve()));
  }
}
