import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { running } from '../helpers/processes.js';
import { childPortDepth } from '../../src/util/ports.js';
import { PortalClient } from '../../src/client/portal-client.js';
import { spawnEcom, waitForPort } from '../../src/util/processes.js';
import { freePort } from '../helpers/ports.js';
import { etcdMissing, openBackend, startTestCluster } from './helpers.js';

/** `ecom up --mode etcd` as a new user runs it, and the clear errors around it. */

function listening(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('ecom up --mode etcd', () => {
  it.skipIf(etcdMissing)('starts a local 3-member cluster and the portals, serves, and stops everything on SIGTERM', async () => {
    const [adminPort, orderPort] = [await freePort(), await freePort()];
    const lines: string[] = [];
    const up = spawnEcom(['up', '--mode', 'etcd', '--admin-port', String(adminPort), '--order-port', String(orderPort), '--lang', 'en'], {
      name: 'up-etcd',
      env: { ECOM_LOG_FORMAT: 'json', ECOM_LOG_LEVEL: 'info' },
      onLine: (_, line) => lines.push(line),
    });
    const client = new PortalClient({ host: '127.0.0.1', port: adminPort });
    const orders = new PortalClient({ host: '127.0.0.1', port: orderPort });
    try {
      // ecom up starts both portals at once: each port says only that its own portal listens.
      for (const port of [adminPort, orderPort]) await waitForPort('127.0.0.1', port, 30_000, up);
      expect(await client.createClient('2', '{"name": "Maria"}')).toEqual({ error: 0 });
      expect(await client.createProduct('1', '{"name": "Caneta", "price": "2.5", "quantity": "8"}')).toEqual({ error: 0 });
      expect(await orders.createOrder('10', '2', '[{"id": "1", "quantity": "3"}]')).toEqual({ error: 0 });
      expect(await client.retrieveProduct('1')).toEqual({ PID: '1', data: '{"nome": "Caneta", "pre\\u00e7o": "2.5", "quantidade": "5"}' });

      const started = lines.map((l) => JSON.parse(l) as { msg?: string; etcd?: string[] }).find((l) => l.msg === 'started a local 3-member etcd cluster');
      expect(started?.etcd, 'up names the etcd members it started').toHaveLength(3);
      for (const url of started!.etcd!) expect(await listening(url)).toBe(true);

      expect(await up.stop(15_000)).toBe(0);
      for (const url of started!.etcd!) expect(await listening(url), `etcd member ${url} stopped with ecom up`).toBe(false);
    } finally {
      client.close();
      orders.close();
      await up.kill();
    }
  });

  it.skipIf(etcdMissing)('uses a cluster given with --etcd under its --etcd-prefix, and leaves that cluster running', async () => {
    const cluster = await startTestCluster();
    const [adminPort, orderPort] = [await freePort(), await freePort()];
    const args = ['up', '--mode', 'etcd', '--etcd', cluster.endpoints.join(','), '--etcd-prefix', '/shop-a'];
    const up = spawnEcom([...args, '--admin-port', String(adminPort), '--order-port', String(orderPort)], { name: 'up-external', onLine: null });
    const client = new PortalClient({ host: '127.0.0.1', port: adminPort });
    const checker = await openBackend(cluster, '/shop-a');
    try {
      await waitForPort('127.0.0.1', adminPort, 30_000, up);
      expect(await client.createClient('8', '{"name": "Ext"}')).toEqual({ error: 0 });
      expect((await checker.read('client', '8'))?.name).toBe('Ext');
      expect(await up.stop(15_000)).toBe(0);
      expect((await checker.read('client', '8'))?.name, 'the external cluster still serves after ecom up stopped').toBe('Ext');
    } finally {
      client.close();
      await up.kill();
      await checker.close();
      await cluster.stop();
    }
  });

  it.skipIf(etcdMissing)('leaves no etcd member running when the process that started it is SIGKILLed', async () => {
    const script = fileURLToPath(new URL('./fixtures/start-cluster.ts', import.meta.url));
    const dataDir = mkdtempSync(join(tmpdir(), 'ecom-etcd-orphan-'));
    const parent = spawn(process.execPath, ['--import', 'tsx', script, dataDir], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...childPortDepth() } });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        createInterface({ input: parent.stdout! }).on('line', (l) => l.startsWith('PIDS ') && resolve(l));
        parent.once('exit', (code) => reject(new Error(`the fixture exited with ${code} before starting etcd`)));
      });
      const pids = line.slice(5).split(' ').map(Number);
      expect(pids.every((pid) => pid > 0 && running(pid))).toBe(true);
      const exited = new Promise((resolve) => parent.once('exit', resolve));
      parent.kill('SIGKILL');
      await exited;
      const deadline = Date.now() + 5_000;
      // The members die asynchronously (their guard notices the closed pipe); nothing to await but their state.
      while (pids.some(running) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(pids.filter(running), 'etcd members still running').toEqual([]);
    } finally {
      parent.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('says how to install etcd when it is missing', async () => {
    const lines: string[] = [];
    const up = spawnEcom(['up', '--mode', 'etcd', '--admin-port', '0', '--order-port', '0'], {
      name: 'up-no-etcd',
      env: { ECOM_ETCD_BIN: '/nonexistent/etcd' },
      onLine: (_, line) => lines.push(line),
    });
    expect(await up.exited).toBe(1);
    expect(lines.join('\n')).toContain('apt-get install etcd-server etcd-client');
  });

  it('tells a portal server in etcd mode where to find etcd', async () => {
    const lines: string[] = [];
    const server = spawnEcom(['admin-server', '0', '--mode', 'etcd'], { name: 'admin-no-etcd', onLine: (_, line) => lines.push(line) });
    expect(await server.exited).toBe(1);
    expect(lines.join('\n')).toContain('etcd mode needs --etcd URLS');
    const bad = spawnEcom(['admin-server', '0', '--mode', 'etcd', '--etcd', '127.0.0.1:2379'], { name: 'admin-bad-etcd', onLine: (_, line) => lines.push(line) });
    expect(await bad.exited).not.toBe(0);
    expect(lines.join('\n')).toContain('write it as http://HOST:PORT');
  });
});
