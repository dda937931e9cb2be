import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PortalClient } from '../../src/client/portal-client.js';
import { parseExposition, type Family } from '../../src/metrics/exposition.js';
import { spawnEcom, waitForPort } from '../../src/util/processes.js';
import { freePort, mqttPortalPorts } from '../helpers/ports.js';

const HOST = '127.0.0.1';

async function scrape(url: string): Promise<Family[]> {
  const response = await fetch(url);
  expect(response.status, url).toBe(200);
  return parseExposition(await response.text());
}

const value = (families: readonly Family[], name: string, labels: Record<string, string> = {}): number | undefined =>
  families.flatMap((f) => f.samples).find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

/** `ecom up --mode mqtt`: each portal and the broker serve /metrics; the portals' log positions agree. */
describe('Prometheus metrics of ecom up --mode mqtt', () => {
  // docs/spec.md: R-CLI-13
  it('every portal shows its log position, no lag once in step, and its RPCs', async () => {
    const scratch = mkdtempSync(join(tmpdir(), 'ecom-metrics-mqtt-'));
    const [adminPort, orderPort, brokerPort] = [await mqttPortalPorts(), await mqttPortalPorts(), await freePort()];
    const lines: string[] = [];
    const args = ['up', '--mode', 'mqtt', '--admin-port', String(adminPort), '--order-port', String(orderPort), '--broker-port', String(brokerPort), '--cluster-secret', join(scratch, 'cluster.secret')];
    const up = spawnEcom(args, { name: 'up', onLine: (_n, line) => lines.push(line), env: { ECOM_LOG_FORMAT: 'json' } });
    try {
      for (const port of [adminPort, adminPort + 10, orderPort, orderPort + 10]) await waitForPort(HOST, port, 30_000, up);
      const deadline = Date.now() + 20_000;
      while (!lines.some((l) => l.includes('Prometheus metrics of each process'))) {
        if (Date.now() > deadline) throw new Error(`ecom up did not say where its metrics are:\n${lines.join('\n')}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const urls = Object.fromEntries([...lines.join('\n').matchAll(/([a-z]+(?:-\d+)?) (http:\/\/127\.0\.0\.1:\d+\/metrics)/g)].map((m) => [m[1]!, m[2]!]));
      expect(Object.keys(urls).sort()).toEqual([`admin-${adminPort}`, `admin-${adminPort + 10}`, 'broker', `order-${orderPort}`, `order-${orderPort + 10}`].sort());

      const admin = new PortalClient({ host: HOST, port: adminPort });
      const writes = 5;
      for (let i = 0; i < writes; i++) expect(await admin.createClient(String(i + 1), '{"name": "Ana"}')).toEqual({ error: 0 });
      admin.close();

      const portals = Object.keys(urls).filter((name) => name !== 'broker');
      // Replication between processes has no event to await: poll until every portal applied the writes.
      let positions: number[] = [];
      for (const until = Date.now() + 10_000; Date.now() < until; await new Promise((r) => setTimeout(r, 50))) {
        positions = await Promise.all(portals.map(async (name) => value(await scrape(urls[name]!), 'ecom_mqtt_log_position') ?? -1));
        if (positions.every((p) => p === positions[0] && p >= writes)) break;
      }
      expect(new Set(positions).size, `positions ${positions.join(', ')}`).toBe(1);
      expect(positions[0]).toBeGreaterThanOrEqual(writes);
      for (const name of portals) {
        const families = await scrape(urls[name]!);
        expect(value(families, 'ecom_mqtt_lag_commands'), name).toBe(0);
        expect(value(families, 'ecom_mqtt_live'), name).toBe(1);
        expect(value(families, 'ecom_mqtt_state_transfers_received_total'), name).toBeDefined();
      }
      const served = await scrape(urls[`admin-${adminPort}`]!);
      expect(value(served, 'grpc_server_handled_total', { grpc_method: 'CreateClient', grpc_code: 'OK' })).toBe(writes);
      expect(value(served, 'ecom_portal_replies_total', { grpc_method: 'CreateClient', code: '0' })).toBe(writes);
      expect(value(await scrape(urls.broker!), 'process_resident_memory_bytes')).toBeGreaterThan(0);
    } catch (err) {
      throw new Error(`${(err as Error).message}\nwhat ecom up printed:\n${lines.join('\n')}`, { cause: err });
    } finally {
      up.process.kill('SIGINT');
      await up.exited;
      rmSync(scratch, { recursive: true, force: true });
    }
  }, 120_000);
});
