import { createRequire } from 'node:module';
import type { MqttClient } from 'mqtt';
import { MqttPublisher } from '../../net/mqtt-publisher.js';
import type { BrokerCredentials } from '../../net/cluster-secret.js';
import type { Logger } from '../../util/log.js';

/**
 * Change announcements from the storage tier to portal caches, over MQTT. Best effort on
 * purpose (QoS 0, dropped while disconnected): a lost announcement only lets a cached read
 * stay old until the cache's bound, which is the promise the cache makes anyway.
 */
export const CHANGES_TOPIC = 'ecom/v1/storage/changes';
const MAX_KEYS_PER_MESSAGE = 10_000;
// keepalive 5 s: a link that stops carrying anything (a stalled network) is noticed within
// about 7.5 s, and the subscriber's cache stops trusting its entries; mqtt.js's default is 60 s.
const KEEPALIVE_S = 5;
const RECONNECT_MS = 1_000;

function warnOfRefusal(err: Error & { code?: unknown }, url: string, log: Logger): void {
  // CONNACK 4 and 5: the broker wants the cluster's credentials and these are not them.
  const refused = err.code === 4 || err.code === 5;
  if (refused) log.warn({ err: err.message, url }, 'change feed: the broker refused our credentials; give this process the cluster secret with --cluster-secret');
  else log.debug({ err: err.message, url }, 'change feed: broker error');
}

export interface ChangeMessage {
  readonly partition: number;
  /** Record keys as `kind/id`. */
  readonly keys: readonly string[];
}

/**
 * The subscriber's client is mqtt.js, required when a subscriber is made: only a portal with
 * a cache subscribes, and loading mqtt.js costs about 150 ms of CPU that every other process
 * that imports this module (each replica) would pay at start.
 */
function connectClient(url: string, clientId: string, log: Logger, credentials: BrokerCredentials | undefined): MqttClient {
  const mqtt = createRequire(import.meta.url)('mqtt') as typeof import('mqtt');
  const client = mqtt.connect(url, { protocolVersion: 4, clientId, reconnectPeriod: RECONNECT_MS, queueQoSZero: false, clean: true, keepalive: KEEPALIVE_S, ...credentials });
  client.on('error', (err) => warnOfRefusal(err, url, log));
  // Small messages that someone waits for: without this, Nagle's algorithm delays each by ~40 ms.
  client.on('connect', () => (client.stream as { setNoDelay?: (noDelay: boolean) => unknown }).setNoDelay?.(true));
  return client;
}

/** A storage replica's side of the feed, on the lean QoS 0 publisher (net/mqtt-publisher.ts). */
export class ChangePublisher {
  private readonly client: MqttPublisher;

  constructor(url: string, name: string, log: Logger, credentials?: BrokerCredentials) {
    this.client = new MqttPublisher({ url, clientId: `${name}-${process.pid}`, keepalive_s: KEEPALIVE_S, reconnect_ms: RECONNECT_MS, ...(credentials === undefined ? {} : { credentials }), onError: (err) => warnOfRefusal(err, url, log) });
  }

  publish(partition: number, keys: Iterable<string>): void {
    if (!this.client.connected) return;
    let batch: string[] = [];
    for (const key of keys) {
      batch.push(key);
      if (batch.length === MAX_KEYS_PER_MESSAGE) {
        this.client.publish(CHANGES_TOPIC, JSON.stringify({ partition, keys: batch } satisfies ChangeMessage));
        batch = [];
      }
    }
    if (batch.length > 0) this.client.publish(CHANGES_TOPIC, JSON.stringify({ partition, keys: batch } satisfies ChangeMessage));
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

/** What a subscriber reports besides the keys: when announcements may have been lost and when they flow again. */
export interface FeedEvents {
  /** The connection closed: announcements published from now on are lost to this subscriber. */
  readonly onDown?: () => void;
  /** Subscribed (again): announcements flow from now on; what was published before is lost. */
  readonly onUp?: () => void;
}

export class ChangeSubscriber {
  private readonly client: MqttClient;
  private subscribed = false;
  private readonly waiting: Array<() => void> = [];

  constructor(url: string, name: string, log: Logger, onKey: (key: string) => void, events: FeedEvents = {}, credentials?: BrokerCredentials) {
    this.client = connectClient(url, `${name}-${process.pid}`, log, credentials);
    this.client.on('connect', () =>
      this.client.subscribe(CHANGES_TOPIC, { qos: 0 }, (err) => {
        if (err) return log.warn({ err: err.message }, 'change feed: cannot subscribe');
        // A connection that closed before the subscription was granted reports no "up".
        if (!this.client.connected) return;
        this.subscribed = true;
        events.onUp?.();
        for (const resolve of this.waiting.splice(0)) resolve();
      }),
    );
    // 'close' fires after every failed reconnection attempt too: report only the transition.
    this.client.on('close', () => {
      if (!this.subscribed) return;
      this.subscribed = false;
      events.onDown?.();
    });
    this.client.on('message', (_topic, payload) => {
      try {
        const message = JSON.parse(payload.toString('utf8')) as ChangeMessage;
        if (!Array.isArray(message.keys)) return;
        for (const key of message.keys) if (typeof key === 'string') onKey(key);
      } catch {
        log.warn('change feed: ignored a message that is not JSON');
      }
    });
  }

  /** Resolves once subscribed, so that no later change can be missed. */
  ready(): Promise<void> {
    return this.subscribed ? Promise.resolve() : new Promise((resolve) => this.waiting.push(resolve));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.client.end(true, {}, () => resolve()));
  }
}
