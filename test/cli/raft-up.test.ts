import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PortalClient } from '../../src/client/portal-client.js';
import { spawnEcom, waitForPort } from '../../src/util/processes.js';
import { freeLocalTopology } from '../../src/storage/common/topology.js';
import { runEcom, waitUntilUp } from '../helpers/ecom.js';
import { replicaDir } from '../../src/storage/replica/layout.js';
import { freePort } from '../helpers/ports.js';

/**
 * `ecom up` (raft mode, the default) as a user runs it: 6 replicas and 2 portals as processes,
 * `ecom status` showing the leaders, data kept across a restart, Ctrl-C stopping everything.
 */
describe('ecom up (raft mode)', () => {
  // docs/spec.md: R-CLI-1, R-CLI-4
  it('serves, reports status, keeps the data across a restart and stops cleanly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ecom-up-'));
    const config = join(dir, 'cluster.json');
    writeFileSync(config, JSON.stringify(await freeLocalTopology()));
    const [adminPort, orderPort, dashboardPort] = [await freePort(), await freePort(), await freePort()];
    const args = ['up', '--dashboard-port', String(dashboardPort), '--data', join(dir, 'data'), '--storage-config', config, '--admin-port', String(adminPort), '--order-port', String(orderPort), '--broker-port', String(await freePort()), '--cache-ms', '50'];
    const start = async () => {
      const output: string[] = [];
      const up = spawnEcom(args, { name: 'up', onLine: (_n, line) => output.push(line), env: { ECOM_LOG_FORMAT: 'json' } });
      await waitForPort('127.0.0.1', orderPort, 60_000, up);
      // `up` prints one line per replica once the portals are up.
      const deadline = Date.now() + 30_000;
      while (!output.some((l) => l.includes('system is up'))) {
        if (Date.now() > deadline) throw new Error(`ecom up did not finish starting:\n${output.join('\n')}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return { up, output };
    };
    try {
      const first = await start();
      expect(first.output.filter((l) => /storage \d: partition \d, (leader|follower)/.test(l))).toHaveLength(6);
      expect(first.output.some((l) => l.includes('MQTT broker (change feed)'))).toBe(true);
      expect(first.output.some((l) => l.includes(`system is up; watch it at http://127.0.0.1:${dashboardPort}/`))).toBe(true);
      const client = new PortalClient({ host: '127.0.0.1', port: adminPort });
      expect(await client.createClient('44', '{"name": "Lewis Hamilton"}')).toEqual({ error: 0 });
      client.close();

      // The cluster secret made on first start, owner-only; by-hand commands take it with --cluster-secret.
      const secret = join(dir, 'data', 'cluster.secret');
      expect(statSync(secret).mode & 0o777).toBe(0o600);
      expect(first.output.some((l) => l.includes('created the cluster secret'))).toBe(true);
      const withoutSecret = await runEcom(['status', '--storage-config', config], { env: { ECOM_CLUSTER_SECRET_FILE: '' } });
      expect(withoutSecret.stderr).toContain('pass --cluster-secret FILE');
      const status = await runEcom(['status', '--storage-config', config, '--cluster-secret', secret]);
      expect(status.code).toBe(0);
      expect(status.stdout).toMatch(/partition 0: leader [1-3], term \d+/);
      expect(status.stdout).toMatch(/partition 1: leader [4-6], term \d+/);
      const json = JSON.parse((await runEcom(['status', '--json', '--storage-config', join(dir, 'data', 'topology.json')])).stdout) as Array<{ role: string }>;
      expect(json.filter((s) => s.role === 'leader')).toHaveLength(2);

      first.up.process.kill('SIGINT');
      expect(await first.up.exited).toBe(0);
      const down = await runEcom(['status', '--storage-config', config, '--cluster-secret', secret]);
      expect(down.code).toBe(3);
      expect(down.stdout).toContain('down');

      const second = await start();
      expect(second.output.some((l) => l.includes('created the cluster secret')), 'a restart keeps the secret it made').toBe(false);
      // A clean stop flushed every replica's state: nothing needs rebuilding.
      // Colocated by default: three storage processes, each hosting one replica of both partitions.
      for (const name of ['1_4', '2_5', '3_6']) expect(readFileSync(join(dir, 'data', 'logs', `storage-${name}.log`), 'utf8')).not.toContain('not clean');
      const again = new PortalClient({ host: '127.0.0.1', port: orderPort });
      expect(await again.retrieveClient('44')).toEqual({ CID: '44', data: '{"nome": "Lewis Hamilton"}' });
      again.close();
      second.up.process.kill('SIGTERM');
      expect(await second.up.exited).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--colocate: three storage processes, one replica of each partition apiece; Ctrl-C stops every replica cleanly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ecom-up-colocate-'));
    const config = join(dir, 'cluster.json');
    writeFileSync(config, JSON.stringify(await freeLocalTopology()));
    const [adminPort, orderPort] = [await freePort(), await freePort()];
    const data = join(dir, 'data');
    const args = ['up', '--colocate', '--dashboard-port', '0', '--data', data, '--storage-config', config, '--admin-port', String(adminPort), '--order-port', String(orderPort), '--broker-port', String(await freePort())];
    const output: string[] = [];
    const up = spawnEcom(args, { name: 'up', onLine: (_n, line) => output.push(line), env: { ECOM_LOG_FORMAT: 'json' } });
    try {
      await waitUntilUp(output, up, 60_000);
      const replicaLines = output.filter((l) => /storage \d: partition \d, (leader|follower)/.test(l));
      expect(replicaLines).toHaveLength(6);
      const pidOf = (id: number) => new RegExp(`storage ${id}: .* pid (\\d+)`).exec(replicaLines.find((l) => l.includes(`storage ${id}:`)) ?? '')?.[1];
      expect(new Set([1, 2, 3, 4, 5, 6].map(pidOf)).size, 'three processes').toBe(3);
      expect(pidOf(1)).toBe(pidOf(4));
      const client = new PortalClient({ host: '127.0.0.1', port: adminPort });
      expect(await client.createClient('44', '{"name": "Lewis Hamilton"}')).toEqual({ error: 0 });
      expect(await client.createClient('45', '{"name": "Max Verstappen"}')).toEqual({ error: 0 });
      client.close();
      up.process.kill('SIGINT');
      expect(await up.exited).toBe(0);
      // SIGTERM reached each process once and stopped all it hosts: every replica flushed its state.
      for (let id = 1; id <= 6; id++) expect(existsSync(join(replicaDir(data, id), 'state.clean')), `replica ${id} stopped cleanly`).toBe(true);
      expect(readFileSync(join(data, 'logs', 'storage-1_4.log'), 'utf8')).toContain('stopping replicas 1, 4');
    } finally {
      if (up.process.exitCode === null) up.process.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses --fresh without a terminal unless --yes is given', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ecom-fresh-'));
    try {
      const run = await runEcom(['up', '--fresh', '--data', dir, '--admin-port', String(await freePort()), '--order-port', String(await freePort()), '--broker-port', String(await freePort())]);
      expect(run.code).not.toBe(0);
      expect(run.stderr).toContain('add --yes to confirm');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
