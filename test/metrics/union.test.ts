import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Counter, Histogram } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { parseExposition } from '../../src/metrics/exposition.js';
import { createProcessRegistry } from '../../src/metrics/registry.js';
import { startMetricsServer, type MetricsServer } from '../../src/metrics/server.js';
import { metricsTarget, scrapeUnion } from '../../src/metrics/union.js';
import { silentLogger } from '../../src/util/log.js';
import { spawnEcom, waitForPort } from '../../src/util/processes.js';
import { createClusterSecret } from '../../src/net/cluster-secret.js';
import { freeLocalTopology } from '../../src/storage/common/topology.js';
import { runEcom } from '../helpers/ecom.js';
import { freePort } from '../helpers/ports.js';

/** A GET of /metrics with a Host header of our choosing (fetch does not let one set it). */
function httpGet(port: number, host: string): Promise<{ status: number }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/metrics', headers: { host } }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0 });
    })
      .on('error', reject)
      .end();
  });
}

/** The metrics server and the union of several processes' scrapes, over real HTTP on loopback. */
describe('metrics server and union', () => {
  const servers: MetricsServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  async function serve(events: number): Promise<MetricsServer> {
    const registry = createProcessRegistry();
    const counter = new Counter({ name: 'test_events_total', help: 'events', labelNames: ['kind'], registers: [registry] });
    const histogram = new Histogram({ name: 'test_seconds', help: 'latency', buckets: [0.1, 1], registers: [registry] });
    for (let i = 0; i < events; i++) {
      counter.labels('a "quoted" \\ kind').inc();
      histogram.observe(i / 10);
    }
    const server = await startMetricsServer({ registry, host: '127.0.0.1', port: 0, log: silentLogger });
    servers.push(server);
    return server;
  }

  it('serves /metrics, 404 elsewhere, and labels every series of the union with its process', async () => {
    const [one, two] = [await serve(3), await serve(5)];
    expect((await fetch(one.url.replace('/metrics', '/other'))).status).toBe(404);
    // A page of another site whose name was rebound to 127.0.0.1 cannot read the metrics.
    expect((await httpGet(one.port, 'evil.example')).status).toBe(403);
    expect((await httpGet(one.port, `localhost:${one.port}`)).status).toBe(200);
    const own = parseExposition(await (await fetch(one.url)).text());
    expect(own.find((f) => f.name === 'test_events_total')?.samples[0]?.value).toBe(3);
    expect(own.some((f) => f.name === 'process_cpu_user_seconds_total'), 'default Node metrics').toBe(true);

    const down = metricsTarget('gone', await freePort());
    const text = await scrapeUnion([metricsTarget('one', one.port), metricsTarget('two', two.port), down]);
    const families = parseExposition(text);
    // Each family once, even though two processes sent it.
    expect(new Set(families.map((f) => f.name)).size).toBe(families.length);
    for (const family of families) for (const sample of family.samples) expect(sample.labels.process, `${sample.name} has a process label`).toBeDefined();
    const events = families.find((f) => f.name === 'test_events_total')!;
    expect(events.type).toBe('counter');
    expect(Object.fromEntries(events.samples.map((s) => [s.labels.process, s.value]))).toEqual({ one: 3, two: 5 });
    expect(events.samples[0]!.labels.kind, 'label values survive the round trip').toBe('a "quoted" \\ kind');
    const counts = families.find((f) => f.name === 'test_seconds')!.samples.filter((s) => s.name === 'test_seconds_count');
    expect(counts.map((s) => s.value).sort()).toEqual([3, 5]);
    const up = families.find((f) => f.name === 'ecom_scrape_up')!.samples;
    expect(Object.fromEntries(up.map((s) => [s.labels.process, s.value]))).toEqual({ one: 1, two: 1, gone: 0 });
  });

  it('ecom dashboard serves the union of the processes named with --metrics-target', async () => {
    const [one, two] = [await serve(2), await serve(4)];
    const dir = mkdtempSync(join(tmpdir(), 'ecom-dashboard-metrics-'));
    const config = join(dir, 'cluster.json');
    createClusterSecret(join(dir, 'cluster.secret'));
    writeFileSync(config, JSON.stringify({ ...(await freeLocalTopology()), secretFile: 'cluster.secret' }));
    const port = await freePort();
    const args = ['dashboard', '--storage-config', config, '--port', String(port), '--metrics-target', `storage-1=${one.url}`, '--metrics-target', `admin=${two.url}`];
    const child = spawnEcom(args, { name: 'dashboard' });
    try {
      await waitForPort('127.0.0.1', port, 30_000, child);
      const families = parseExposition(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
      const events = families.find((f) => f.name === 'test_events_total')!.samples;
      expect(Object.fromEntries(events.map((s) => [s.labels.process, s.value]))).toEqual({ 'storage-1': 2, admin: 4 });
      child.process.kill('SIGINT');
      expect(await child.exited).toBe(0);
    } finally {
      await child.kill();
      rmSync(dir, { recursive: true, force: true });
    }
    const refused = await runEcom(['dashboard', '--metrics-target', 'storage-1']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('"storage-1" is not NAME=URL');
  });

  it('refuses a line that is not the text format, naming it', () => {
    expect(() => parseExposition('# TYPE x counter\nx{a="1"} 1\nnot a sample line at all\n')).toThrow(/line 3 .*not a sample/);
  });

  it('says clearly when its port is taken; a process runs on without its metrics', async () => {
    const taken = await serve(0);
    await expect(startMetricsServer({ registry: createProcessRegistry(), host: '127.0.0.1', port: taken.port, log: silentLogger })).rejects.toThrow(
      new RegExp(`port ${taken.port} on 127.0.0.1 is taken by another program; choose another with --metrics-port`),
    );
    const brokerPort = await freePort();
    const lines: string[] = [];
    const broker = spawnEcom(['broker', '--port', String(brokerPort), '--metrics-port', String(taken.port)], { name: 'broker', onLine: (_n, line) => lines.push(line), env: { ECOM_LOG_FORMAT: 'json' } });
    try {
      await waitForPort('127.0.0.1', brokerPort, 30_000, broker);
      expect(lines.join('\n')).toContain(`port ${taken.port} on 127.0.0.1 is taken by another program; choose another with --metrics-port N (0 turns metrics off); running on without serving metrics`);
    } finally {
      broker.process.kill('SIGINT');
      expect(await broker.exited).toBe(0);
    }
  });
});
