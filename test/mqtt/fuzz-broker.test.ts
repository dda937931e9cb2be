import { mkdtempSync, rmSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { brokerCredentials, createClusterSecret, readClusterSecret } from '../../src/net/cluster-secret.js';
import { connectPacket, mqttPacket, mqttString } from '../../src/net/mqtt-publisher.js';
import { spawnEcom, waitForPort } from '../../src/util/processes.js';
import { Prng } from '../../src/util/random.js';
import { freePort } from '../helpers/ports.js';
import { testSeed } from '../helpers/seed.js';

/**
 * Seeded fuzzing of the embedded broker's port (`ecom broker`, which `ecom up` starts for mqtt
 * mode and for raft mode's change feed): packets no well-behaved client sends, raw over TCP,
 * before and after a CONNECT with the cluster's credentials. Afterwards the same process must
 * still refuse a client without the credentials and carry a QoS 1 message between two that
 * have them.
 */
const CONNECTIONS = 300;
const CONNECTION_WAIT_MS = 1_000;

function connectAs(clientId: string, credentials?: { username: string; password: string }): Buffer {
  return connectPacket({ clientId, keepalive_s: 30, ...(credentials === undefined ? {} : { credentials }) });
}

function randomBytes(r: Prng, max: number): Buffer {
  return Buffer.from(Array.from({ length: r.int(max) }, () => r.int(256)));
}

/** One connection's bytes: a mangled CONNECT, a packet of any type and flags, a lying length, or noise; after a good CONNECT half the time. */
function randomConnection(r: Prng, credentials: { username: string; password: string }): Buffer {
  const parts: Buffer[] = [];
  if (r.chance(0.5)) parts.push(connectAs(`fuzz-${r.int(1e6)}`, credentials));
  for (let n = 1 + r.int(3); n > 0; n--) {
    const roll = r.int(6);
    if (roll === 0) {
      const good = connectAs(`f${r.int(1000)}`, r.chance(0.5) ? credentials : { username: 'ecom', password: 'wrong' });
      const at = 1 + r.int(good.length - 1);
      good[at] = r.int(256);
      parts.push(good);
    } else if (roll === 1) parts.push(mqttPacket(r.int(16), r.int(16), randomBytes(r, 200)));
    else if (roll === 2) parts.push(Buffer.concat([Buffer.from([r.int(256)]), Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7f].slice(0, 1 + r.int(5))), randomBytes(r, 20)]));
    else if (roll === 3) parts.push(mqttPacket(3, r.int(16), Buffer.concat([mqttString(r.pick(['ecom/log', '#', '+/+', '', 'a/#/b', '\u0000', 'x'.repeat(r.int(500))])), randomBytes(r, 100)])));
    else if (roll === 4) parts.push(mqttPacket(8, r.int(16), Buffer.concat([Buffer.from([r.int(256), r.int(256)]), mqttString(r.pick(['#', 'ecom/+', '', '/#/', 'a'])), Buffer.from([r.int(256)])])));
    else parts.push(randomBytes(r, 300));
  }
  return Buffer.concat(parts);
}

/** Sends the bytes and waits until the broker closes the connection or a short while passes. */
function throwAt(port: number, bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const socket = tcpConnect(port, '127.0.0.1', () => socket.write(bytes));
    const timer = setTimeout(() => socket.destroy(), CONNECTION_WAIT_MS);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.resume();
  });
}

function client(url: string, options: mqtt.IClientOptions): Promise<mqtt.MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5_000, ...options });
    c.once('connect', () => resolve(c));
    c.once('error', (err) => {
      c.end(true);
      reject(err);
    });
  });
}

describe('the embedded broker under malformed packets', () => {
  it('fuzz broker port: outlives what no client sends, still refuses strangers and carries a message', { timeout: 120_000 }, async () => {
    const seed = testSeed('fuzz broker port');
    const r = new Prng(seed);
    const dir = mkdtempSync(join(tmpdir(), 'ecom-fuzz-broker-'));
    const secretFile = join(dir, 'cluster.secret');
    createClusterSecret(secretFile);
    const credentials = brokerCredentials(readClusterSecret(secretFile));
    const port = await freePort();
    const broker = spawnEcom(['broker', '--port', String(port), '--cluster-secret', secretFile, '--metrics-port', '0'], { name: 'broker' });
    try {
      await waitForPort('127.0.0.1', port, 30_000, broker);
      for (let i = 0; i < CONNECTIONS; i++) {
        await throwAt(port, randomConnection(r, credentials));
        expect(broker.process.exitCode, `seed ${seed}: the broker exited after connection ${i}`).toBeNull();
      }
      const url = `mqtt://127.0.0.1:${port}`;
      await expect(client(url, { username: 'ecom', password: 'wrong' }), 'a stranger is still refused').rejects.toThrow(/Not authorized|Bad username or password/);
      const reader = await client(url, credentials);
      const writer = await client(url, credentials);
      try {
        await reader.subscribeAsync('fuzz/after', { qos: 1 });
        const received = new Promise<string>((resolve) => reader.on('message', (_topic, payload) => resolve(payload.toString())));
        await writer.publishAsync('fuzz/after', `seed ${seed}`, { qos: 1 });
        expect(await received).toBe(`seed ${seed}`);
      } finally {
        reader.end(true);
        writer.end(true);
      }
    } finally {
      await broker.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
