import { createServer, type Socket } from 'node:net';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { MqttPublisher, type MqttPublisherOptions } from '../../src/net/mqtt-publisher.js';
import { startBroker, type EmbeddedBroker } from '../../src/modes/mqtt/broker.js';
import { silentLogger } from '../../src/util/log.js';
import { freePort } from '../helpers/ports.js';

/** The replicas' lean QoS 0 publisher against the embedded broker (aedes) and an mqtt.js subscriber. */
const credentials = { username: 'ecom', password: 'the cluster password' };
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function broker(port?: number): Promise<EmbeddedBroker> {
  const started = await startBroker({ host: '127.0.0.1', port: port ?? (await freePort()), log: silentLogger, credentials });
  cleanups.push(() => started.close());
  return started;
}

/** A publisher and a queue of its connections and errors, each awaitable. */
function publisher(options: Omit<MqttPublisherOptions, 'onConnected' | 'onError' | 'clientId'>) {
  const connections: Array<() => void> = [];
  let connected = 0;
  const errors: Array<Error & { code?: number }> = [];
  const errorWaiters: Array<() => void> = [];
  const client = new MqttPublisher({
    ...options,
    clientId: 'test-publisher',
    onConnected: () => {
      connected++;
      for (const resolve of connections.splice(0)) resolve();
    },
    onError: (err) => {
      errors.push(err);
      for (const resolve of errorWaiters.splice(0)) resolve();
    },
  });
  cleanups.push(() => client.close());
  return {
    client,
    errors,
    connectedTimes: () => connected,
    nextConnection: () => new Promise<void>((resolve) => connections.push(resolve)),
    nextError: () => new Promise<void>((resolve) => errorWaiters.push(resolve)),
  };
}

async function subscriber(url: string, topic: string): Promise<{ received: string[]; next: (n: number) => Promise<string[]> }> {
  const client = mqtt.connect(url, { ...credentials, protocolVersion: 4 });
  cleanups.push(() => client.endAsync(true));
  await new Promise<void>((resolve, reject) => client.once('connect', () => client.subscribe(topic, { qos: 0 }, (err) => (err ? reject(err) : resolve()))));
  const received: string[] = [];
  const waiters: Array<{ n: number; resolve: (r: string[]) => void }> = [];
  client.on('message', (_t, payload) => {
    received.push(payload.toString('utf8'));
    for (const w of waiters.filter((w) => received.length >= w.n)) w.resolve([...received]);
  });
  return { received, next: (n) => new Promise((resolve) => (received.length >= n ? resolve([...received]) : waiters.push({ n, resolve }))) };
}

describe('MqttPublisher', () => {
  it('connects with credentials and publishes at QoS 0, small and large payloads alike', async () => {
    const { port } = await broker();
    const url = `mqtt://127.0.0.1:${port}`;
    const sub = await subscriber(url, 'feed');
    const pub = publisher({ url, keepalive_s: 5, reconnect_ms: 100, credentials });
    expect(pub.client.publish('feed', 'before connecting')).toBe(false);
    await pub.nextConnection();
    // Remaining lengths of one, two and three bytes.
    const payloads = ['{"partition":0,"keys":["client/1"]}', 'é'.repeat(100), 'x'.repeat(20_000)];
    for (const payload of payloads) expect(pub.client.publish('feed', payload)).toBe(true);
    expect(await sub.next(3)).toEqual(payloads);
  });

  it('reports a refusal of wrong credentials and never counts as connected', async () => {
    const { port } = await broker();
    const pub = publisher({ url: `mqtt://127.0.0.1:${port}`, keepalive_s: 5, reconnect_ms: 60_000, credentials: { username: 'ecom', password: 'wrong' } });
    await pub.nextError();
    // 4 (bad user name or password) or 5 (not authorised): the broker's choice.
    expect([4, 5]).toContain(pub.errors[0]?.code);
    expect(pub.client.connected).toBe(false);
    expect(pub.connectedTimes()).toBe(0);
  });

  it('connects again once a stopped broker is back on its port', async () => {
    const first = await broker();
    const url = `mqtt://127.0.0.1:${first.port}`;
    const pub = publisher({ url, keepalive_s: 5, reconnect_ms: 100, credentials });
    await pub.nextConnection();
    const reconnected = pub.nextConnection();
    await first.close();
    await broker(first.port);
    const sub = await subscriber(url, 'feed');
    await reconnected;
    expect(pub.client.publish('feed', 'after the restart')).toBe(true);
    expect(await sub.next(1)).toEqual(['after the restart']);
  });

  it('gives up a connection whose broker stops answering pings', async () => {
    // A "broker" that accepts the connection and then says nothing more.
    const sockets: Socket[] = [];
    const server = createServer((socket) => {
      sockets.push(socket);
      socket.once('data', () => socket.write(Buffer.from([0x20, 0x02, 0x00, 0x00])));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
    cleanups.push(() => Promise.resolve(sockets.forEach((s) => s.destroy())));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const pub = publisher({ url: `mqtt://127.0.0.1:${port}`, keepalive_s: 1, reconnect_ms: 60_000 });
    await pub.nextConnection();
    await pub.nextError();
    expect(pub.errors[0]?.message).toMatch(/did not answer a ping within 1 s/);
    expect(pub.client.connected).toBe(false);
  });

  it('refuses a peer that sends what no broker sends a publisher', async () => {
    const server = createServer((socket) => socket.once('data', () => socket.write(Buffer.from([0x30, 0xff, 0xff, 0x7f]))));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const pub = publisher({ url: `mqtt://127.0.0.1:${port}`, keepalive_s: 5, reconnect_ms: 60_000 });
    await pub.nextError();
    expect(pub.errors[0]?.message).toMatch(/never expects/);
  });
});
