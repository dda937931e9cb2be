import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, expect, it } from 'vitest';
import { brokerCredentials, readClusterSecret } from '../../src/net/cluster-secret.js';
import { PortalClient } from '../../src/client/portal-client.js';
import { spawnEcom, waitForPort, type EcomChild } from '../../src/util/processes.js';
import { freePort, HOST } from './cluster.js';
import { mqttPortalPorts } from '../helpers/ports.js';

let up: EcomChild | undefined;
const clients: PortalClient[] = [];
const scratch = mkdtempSync(join(tmpdir(), 'ecom-mqtt-up-'));

afterAll(async () => {
  for (const client of clients) client.close();
  // SIGTERM, not SIGKILL: `ecom up` must get the chance to stop the processes it started.
  await up?.stop(10_000);
  rmSync(scratch, { recursive: true, force: true });
});

/** How the broker answers an MQTT client presenting these credentials: connected, or its refusal code. */
function brokerAnswer(port: number, credentials: { username?: string; password?: string }): Promise<'connected' | number> {
  return new Promise((resolve) => {
    const client = mqtt.connect(`mqtt://${HOST}:${port}`, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5_000, ...credentials });
    client.once('connect', () => {
      client.end(true);
      resolve('connected');
    });
    client.once('error', (err) => {
      client.end(true);
      resolve(Number((err as { code?: unknown }).code));
    });
  });
}

function refuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

/** Replication between processes has no event to await: poll, with a deadline generous enough for a crowded machine. */
async function eventually<T>(read: () => Promise<T>, ok: (value: T) => boolean, timeout_ms = 10_000): Promise<T> {
  const deadline = Date.now() + timeout_ms;
  for (;;) {
    const value = await read();
    if (ok(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

// docs/spec.md: R-SEC-2
it('ecom up --mode mqtt runs a broker and 2 + 2 portal processes that share one data set, and Ctrl-C stops them all', async () => {
  const [adminPort, orderPort, brokerPort] = [await mqttPortalPorts(), await mqttPortalPorts(), await freePort()];
  const lines: string[] = [];
  const secretFile = join(scratch, 'cluster.secret');
  up = spawnEcom(['up', '--mode', 'mqtt', '--admin-port', String(adminPort), '--order-port', String(orderPort), '--broker-port', String(brokerPort), '--lang', 'en', '--cluster-secret', secretFile], {
    name: 'up',
    onLine: (_name, line) => lines.push(line),
    env: { ECOM_LOG_FORMAT: 'json' },
  });
  const ports = [adminPort, adminPort + 10, orderPort, orderPort + 10];
  const child = up;
  for (const port of [brokerPort, ...ports]) await waitForPort(HOST, port, 30_000, child);
  const [admin1, admin2, order1, order2] = ports.map((port) => new PortalClient({ host: HOST, port, timeout_ms: 5_000 })) as [PortalClient, PortalClient, PortalClient, PortalClient];
  clients.push(admin1, admin2, order1, order2);
  await eventually(() => Promise.resolve(lines.join('\n')), (text) => text.includes('system is up'), 20_000);
  expect(lines.join('\n')).toContain(`mqtt mode: broker at mqtt://${HOST}:${brokerPort}`);
  // The broker it started takes only the cluster's credentials, made on first start, owner-only.
  expect(statSync(secretFile).mode & 0o777).toBe(0o600);
  expect(await brokerAnswer(brokerPort, {}), 'no credentials: not authorized').toBe(5);
  expect(await brokerAnswer(brokerPort, { username: 'ecom', password: 'guess' })).toBe(5);
  expect(await brokerAnswer(brokerPort, brokerCredentials(readClusterSecret(secretFile)))).toBe('connected');

  expect(await admin1.createProduct('1', '{"name": "Caneta", "price": "2.5", "quantity": 8}')).toEqual({ error: 0 });
  const seen = await eventually(() => admin2.retrieveProduct('1'), (p) => p.PID === '1');
  expect(seen.data).toBe('{"nome": "Caneta", "pre\\u00e7o": "2.5", "quantidade": "8"}');
  expect(await admin2.createClient('2', '{"name": "Ana"}')).toEqual({ error: 0 });
  await eventually(() => order1.retrieveClient('2'), (c) => c.CID === '2');
  await eventually(() => order2.retrieveClient('2'), (c) => c.CID === '2');
  expect(await order1.createOrder('10', '2', '[{"id": "1", "quantity": "3"}]')).toEqual({ error: 0 });
  await eventually(() => order2.retrieveOrder('10'), (o) => o.OID === '10');
  expect(await order2.createOrder('11', '2', '[{"id": "1", "quantity": "5"}]')).toEqual({ error: 0 });
  expect((await order1.createOrder('12', '2', '[{"id": "1", "quantity": "1"}]')).error).toBe(400);
  for (const client of [admin1, admin2, order1, order2]) {
    const product = await eventually(() => client.retrieveProduct('1'), (p) => p.data.includes('"quantidade": "0"'));
    expect(product.data).toContain('"quantidade": "0"');
  }

  up.process.kill('SIGINT');
  expect(await up.exited).toBe(0);
  for (const port of [brokerPort, ...ports]) expect(await refuses(port)).toBe(true);
}, 180_000);
