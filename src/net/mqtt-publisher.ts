import { connect, type Socket } from 'node:net';

/**
 * An MQTT 3.1.1 client that only publishes, at QoS 0: what a storage replica needs for its
 * change feed (storage/common/change-feed.ts). mqtt.js loads about 90 files (streams, a
 * WebSocket transport, proxies, a message store), which cost each replica about 140 ms of CPU
 * at every start (issue #18); this is the few packets a QoS 0 publisher sends and reads
 * (MQTT 3.1.1, sections 3.1, 3.2, 3.3, 3.12-3.14), written from the specification.
 *
 * Like mqtt.js with `queueQoSZero: false`, a message published while disconnected is dropped
 * (the feed is best effort on purpose); a lost connection is tried again every `reconnect_ms`;
 * a broker silent for a keep-alive period after a ping is taken as gone.
 */
export interface MqttPublisherOptions {
  /** mqtt://HOST:PORT */
  readonly url: string;
  readonly clientId: string;
  readonly keepalive_s: number;
  readonly reconnect_ms: number;
  readonly credentials?: { readonly username: string; readonly password: string };
  /** A connection failed, or the broker refused it (`code`: the CONNACK return code, 4 or 5 for bad credentials). */
  readonly onError?: (err: Error & { code?: number }) => void;
  /** The broker accepted a connection (the first, or one after a reconnection). */
  readonly onConnected?: () => void;
}

const CONNECT = 1;
const CONNACK = 2;
const PUBLISH = 3;
const PINGRESP = 13;
const PINGREQ = Buffer.from([0xc0, 0x00]);
const DISCONNECT = Buffer.from([0xe0, 0x00]);
/** A broker sends a publisher only CONNACK and PINGRESP, two bytes each; anything this big is not MQTT. */
const MAX_INCOMING_BYTES = 64 * 1024;
/** MQTT's remaining-length field holds at most four bytes. */
const MAX_REMAINING_LENGTH = 268_435_455;
/** Like mqtt.js: a broker that has not answered CONNECT in this time is given up on, then tried again. */
const CONNACK_TIMEOUT_MS = 30_000;

function remainingLength(n: number): Buffer {
  if (n > MAX_REMAINING_LENGTH) throw new Error(`an MQTT packet of ${n} bytes is over the protocol's ${MAX_REMAINING_LENGTH}`);
  const out: number[] = [];
  do {
    let digit = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) digit |= 0x80;
    out.push(digit);
  } while (n > 0);
  return Buffer.from(out);
}

/** A UTF-8 string with its two-byte length, as MQTT writes every string. */
export function mqttString(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length > 0xffff) throw new Error(`an MQTT string of ${bytes.length} bytes is over 65,535`);
  const length = Buffer.alloc(2);
  length.writeUInt16BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

/** An MQTT packet: its type and flags, its remaining length, its body (tests build odd ones with it). */
export function mqttPacket(type: number, flags: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([(type << 4) | flags]), remainingLength(body.length), body]);
}

export function connectPacket(options: Pick<MqttPublisherOptions, 'clientId' | 'keepalive_s' | 'credentials'>): Buffer {
  const { credentials } = options;
  // Clean session; user name and password when given.
  const flags = 0x02 | (credentials === undefined ? 0 : 0xc0);
  const header = Buffer.from([0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, flags, (options.keepalive_s >> 8) & 0xff, options.keepalive_s & 0xff]);
  const payload = [mqttString(options.clientId), ...(credentials === undefined ? [] : [mqttString(credentials.username), mqttString(credentials.password)])];
  return mqttPacket(CONNECT, 0, Buffer.concat([header, ...payload]));
}

export class MqttPublisher {
  private socket: Socket | undefined;
  private connected_ = false;
  private closed = false;
  private incoming = Buffer.alloc(0);
  private awaitingPong = false;
  private pinger: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private connackTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: MqttPublisherOptions) {
    this.open();
  }

  /** Connected and accepted by the broker: a publish now goes out. */
  get connected(): boolean {
    return this.connected_;
  }

  /** Sends `payload` on `topic` at QoS 0 if connected; returns whether it went out. */
  publish(topic: string, payload: string): boolean {
    if (!this.connected_ || this.socket === undefined) return false;
    this.socket.write(mqttPacket(PUBLISH, 0, Buffer.concat([mqttString(topic), Buffer.from(payload, 'utf8')])));
    return true;
  }

  /** Disconnects politely and stops reconnecting; resolves once the socket is closed. */
  close(): Promise<void> {
    this.closed = true;
    this.stopTimers();
    clearTimeout(this.retry);
    const socket = this.socket;
    if (socket === undefined || socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      socket.once('close', () => resolve());
      if (!this.connected_) return void socket.destroy();
      socket.end(DISCONNECT);
      // The broker closes the connection on DISCONNECT; one that does not is not waited for.
      setTimeout(() => socket.destroy(), 1_000).unref();
    });
  }

  private open(): void {
    const url = new URL(this.options.url);
    const socket = connect({ host: url.hostname, port: Number(url.port === '' ? 1883 : url.port) });
    this.socket = socket;
    this.incoming = Buffer.alloc(0);
    // Small messages that someone waits for: without this, Nagle's algorithm delays each by ~40 ms.
    socket.setNoDelay(true);
    socket.on('connect', () => {
      socket.write(connectPacket(this.options));
      this.connackTimer = setTimeout(() => this.drop(socket, new Error(`no CONNACK from ${this.options.url} within ${CONNACK_TIMEOUT_MS} ms`)), CONNACK_TIMEOUT_MS).unref();
    });
    socket.on('data', (chunk: Buffer) => this.receive(socket, chunk));
    socket.on('error', (err: Error) => this.options.onError?.(err));
    socket.on('close', () => {
      this.connected_ = false;
      this.stopTimers();
      if (!this.closed) this.retry = setTimeout(() => this.open(), this.options.reconnect_ms).unref();
    });
  }

  private receive(socket: Socket, chunk: Buffer): void {
    this.incoming = Buffer.concat([this.incoming, chunk]);
    if (this.incoming.length > MAX_INCOMING_BYTES) return void this.drop(socket, new Error(`${this.options.url} sent ${this.incoming.length} bytes a publisher never expects`));
    for (;;) {
      const first = this.incoming[0];
      const second = this.incoming[1];
      if (first === undefined || second === undefined) return;
      // Both packets a publisher reads have a one-byte remaining length; a longer one is not for us.
      if ((second & 0x80) !== 0) return void this.drop(socket, new Error(`${this.options.url} sent a packet (type ${first >> 4}) a publisher never expects`));
      if (this.incoming.length < 2 + second) return;
      const body = this.incoming.subarray(2, 2 + second);
      this.incoming = this.incoming.subarray(2 + second);
      this.handle(socket, first >> 4, body);
    }
  }

  private handle(socket: Socket, type: number, body: Buffer): void {
    if (type === CONNACK) {
      clearTimeout(this.connackTimer);
      const code = body[1];
      if (body.length !== 2 || code !== 0) {
        const err: Error & { code?: number } = new Error(`${this.options.url} refused the connection (CONNACK return code ${String(code)})`);
        if (code !== undefined) err.code = code;
        this.options.onError?.(err);
        socket.destroy();
        return;
      }
      this.connected_ = true;
      this.awaitingPong = false;
      this.pinger = setInterval(() => this.ping(socket), this.options.keepalive_s * 1000).unref();
      this.options.onConnected?.();
    } else if (type === PINGRESP) {
      this.awaitingPong = false;
    }
    // A broker sends a QoS 0 publisher nothing else; anything else is ignored.
  }

  private ping(socket: Socket): void {
    if (this.awaitingPong) {
      this.drop(socket, new Error(`${this.options.url} did not answer a ping within ${this.options.keepalive_s} s`));
      return;
    }
    this.awaitingPong = true;
    socket.write(PINGREQ);
  }

  /** Ends a connection that failed: not connected from here on, then the error, then a reconnection. */
  private drop(socket: Socket, err: Error): void {
    this.connected_ = false;
    socket.destroy(err);
  }

  private stopTimers(): void {
    clearInterval(this.pinger);
    clearTimeout(this.connackTimer);
  }
}
