import { createServer, type Server, type Socket } from 'node:net';
import { Aedes } from 'aedes';
import { afterEach, describe, expect, it } from 'vitest';
import { MqttBackend } from '../../src/modes/mqtt/backend.js';
import { decodeLogMessage, DEFAULT_TOPIC_PREFIX } from '../../src/modes/mqtt/protocol.js';
import { silentLogger } from '../../src/util/log.js';
import { freePort } from '../../src/util/ports.js';

/**
 * Regression for the divergence the chaos suite found (mqtt mode on Mosquitto, seed 288089556,
 * docs/chaos.md): after a broker restart, mqtt.js resent a write the old broker had not
 * acknowledged as soon as it reconnected, before every other portal had subscribed again; the
 * command reached some portals and not others, and portals going on without a peer's state
 * diverged. A portal must drop what was in flight when its connection closes, answer those writes
 * "may have been applied", and carry on under a new origin.
 */
interface TestBroker {
  readonly published: Array<{ origin: string; seq: number }>;
  /** Commands from this origin are neither acknowledged nor forwarded while set. */
  hold: string | undefined;
  stop(): Promise<void>;
}

const LOG_TOPIC = `${DEFAULT_TOPIC_PREFIX}/log`;

async function startBroker(port: number): Promise<TestBroker> {
  const broker = await Aedes.createBroker();
  const sockets = new Set<Socket>();
  const state: TestBroker = {
    published: [],
    hold: undefined,
    stop: () =>
      new Promise<void>((resolve) => {
        // Like kill -9: every connection cut at once.
        for (const socket of sockets) socket.destroy();
        server.close();
        broker.close(() => resolve());
      }),
  };
  broker.authorizePublish = (_client, packet, callback) => {
    const msg = packet.topic === LOG_TOPIC ? decodeLogMessage(Buffer.from(packet.payload)) : undefined;
    if (msg !== undefined && !('error' in msg) && msg.t === 'cmd') {
      state.published.push({ origin: msg.o, seq: msg.s });
      // Held: no PUBACK, so mqtt.js keeps the message to send again after a reconnection.
      if (msg.o === state.hold) return;
    }
    callback(null);
  };
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    broker.handle(socket);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return state;
}

let cleanUp: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const step of cleanUp.reverse()) await step();
  cleanUp = [];
});

describe('mqtt mode: a session does not outlive its connection', () => {
  it('broker restart (chaos seed 288089556): a write in flight is answered "may have been applied", never resent, and the portal goes on under a new origin', { timeout: 30_000 }, async () => {
    const port = await freePort();
    let broker = await startBroker(port);
    const portal = await MqttBackend.start({ brokerUrl: `mqtt://127.0.0.1:${port}`, log: silentLogger, syncTimeout_ms: 300, writeTimeout_ms: 20_000 });
    // Run in reverse: the portal closes while its broker is still there, right after a write
    // (this close used to hang: mqtt.js's graceful end never saw its last acknowledgement).
    cleanUp.push(() => broker.stop());
    cleanUp.push(() => portal.close());
    expect((await portal.execute({ op: 'CreateClient', cid: '1', data: '{"name": "before"}' })).code).toBe(0);

    const firstOrigin = portal.origin;
    broker.hold = firstOrigin;
    const inFlight = portal.execute({ op: 'CreateClient', cid: '2', data: '{"name": "lost"}' });
    await expect.poll(() => broker.published.some((p) => p.origin === firstOrigin && p.seq === 2)).toBe(true);
    const restartedAt = Date.now();
    await broker.stop();
    // Answered when the connection closes, not after the 20 s write timeout.
    const reply = await inFlight;
    expect(reply.code).toBe(503);
    expect(reply.code === 503 && reply.message.key).toBe('storeUnavailableMaybeApplied');
    expect(Date.now() - restartedAt).toBeLessThan(10_000);

    broker = await startBroker(port);
    await portal.whenLive();
    expect(portal.origin).not.toBe(firstOrigin);
    // The new session works, numbered from 1 under its new origin.
    expect((await portal.execute({ op: 'CreateClient', cid: '3', data: '{"name": "after"}' })).code).toBe(0);
    expect(broker.published).toEqual([{ origin: portal.origin, seq: 1 }]);
    // Nothing of the old session reached the new broker: a resend would have come first.
    expect(broker.published.filter((p) => p.origin === firstOrigin)).toEqual([]);
    expect(await portal.read('client', '2')).toBeUndefined();
    expect((await portal.read('client', '3'))?.name).toBe('after');
  });
});

describe('mqtt mode: stopping', () => {
  it('a portal stops promptly right after a write, and while its broker is down', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const broker = await startBroker(port);
    cleanUp.push(() => broker.stop());
    for (const brokerDown of [false, true]) {
      const portal = await MqttBackend.start({ brokerUrl: `mqtt://127.0.0.1:${port}`, log: silentLogger, syncTimeout_ms: 300 });
      expect((await portal.execute({ op: 'CreateClient', cid: `c${String(brokerDown)}`, data: '{"name": "x"}' })).code).toBe(0);
      if (brokerDown) await broker.stop();
      const started = Date.now();
      await portal.close();
      expect(Date.now() - started).toBeLessThan(3_000);
    }
  });
});
