import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PortalClient } from '../../src/client/portal-client.js';
import { parseExposition, type Family, type Sample } from '../../src/metrics/exposition.js';
import { freeLocalTopology } from '../../src/storage/common/topology.js';
import { spawnEcom, waitForPort, type EcomChild } from '../../src/util/processes.js';
import { freePort } from '../helpers/ports.js';

/**
 * `ecom up` as a user runs it, scraped as Prometheus would: every process serves /metrics on a
 * port of its own, and the dashboard's server serves their union, each series labelled with its
 * process. The counters must move by exactly the writes made, read from the processes' own text.
 */
const WRITES = 7;

function samples(families: readonly Family[], name: string, labels: Record<string, string> = {}): Sample[] {
  const family = families.find((f) => f.samples.some((s) => s.name === name));
  return (family?.samples ?? []).filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

const sum = (list: readonly Sample[]) => list.reduce((total, s) => total + s.value, 0);

const followerMatches = (families: readonly Family[], leader: Sample) =>
  samples(families, 'ecom_raft_follower_match_index', { process: leader.labels.process!, replica: leader.labels.replica! });

/** The leaders that have heard from both followers since they were elected. */
function leadersKnowTheirFollowers(families: readonly Family[]): Sample[] {
  const leaders = samples(families, 'ecom_raft_role', { role: 'leader' }).filter((s) => s.value === 1);
  return leaders.filter((leader) => {
    const matches = followerMatches(families, leader);
    return matches.length === 2 && matches.every((m) => m.value >= 1);
  });
}

/** Scrapes until `ready` holds or 10 s pass, and returns the last scrape either way. */
async function scrapeUntil(url: string, ready: (families: Family[]) => boolean): Promise<Family[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const families = await scrape(url);
    if (ready(families) || Date.now() > deadline) return families;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function scrape(url: string): Promise<Family[]> {
  const response = await fetch(url);
  expect(response.status, url).toBe(200);
  return parseExposition(await response.text());
}

async function startUp(dir: string): Promise<{ up: EcomChild; output: string[]; adminPort: number; orderPort: number; brokerPort: number; union: string }> {
  const config = join(dir, 'cluster.json');
  writeFileSync(config, JSON.stringify(await freeLocalTopology()));
  const [adminPort, orderPort, dashboardPort, brokerPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const args = ['up', '--dashboard-port', String(dashboardPort), '--data', join(dir, 'data'), '--storage-config', config, '--admin-port', String(adminPort), '--order-port', String(orderPort), '--broker-port', String(brokerPort), '--cache-ms', '1000'];
  const output: string[] = [];
  const up = spawnEcom(args, { name: 'up', onLine: (_n, line) => output.push(line), env: { ECOM_LOG_FORMAT: 'json' } });
  // ecom up starts both portals at once: each port says only that its own portal listens.
  for (const port of [adminPort, orderPort]) await waitForPort('127.0.0.1', port, 60_000, up);
  const deadline = Date.now() + 30_000;
  while (!output.some((l) => l.includes('system is up'))) {
    if (Date.now() > deadline) throw new Error(`ecom up did not finish starting:\n${output.join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { up, output, adminPort, orderPort, brokerPort, union: `http://127.0.0.1:${dashboardPort}/metrics` };
}

describe('Prometheus metrics of ecom up', () => {
  // docs/spec.md: R-CLI-13
  it('every process serves its metrics; the union labels them; counters move by the writes made', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ecom-metrics-'));
    const { up, output, adminPort, orderPort, brokerPort, union } = await startUp(dir);
    try {
      expect(output.some((l) => l.includes(`Prometheus metrics: ${union}`)), 'ecom up says where the metrics are').toBe(true);
      const before = await scrape(union);
      const processes = samples(before, 'ecom_scrape_up').map((s) => s.labels.process);
      expect(processes.sort()).toEqual([`admin-server-${adminPort}`, `order-server-${orderPort}`, ...['1_4', '2_5', '3_6'].map((ids) => `storage-${ids}`), `broker-${brokerPort}`].sort());
      expect(samples(before, 'ecom_scrape_up').every((s) => s.value === 1)).toBe(true);

      const admin = new PortalClient({ host: '127.0.0.1', port: adminPort });
      const order = new PortalClient({ host: '127.0.0.1', port: orderPort });
      for (let i = 0; i < WRITES; i++) expect(await admin.createClient(`${900 + i}`, '{"name": "Ana"}')).toEqual({ error: 0 });
      expect((await admin.createClient('900', '{"name": "Ana"}')).error).toBe(400);
      for (let i = 0; i < 4; i++) expect(await order.createOrder(`${71 + i}`, `${900 + i}`, '[]')).toEqual({ error: 0 });
      expect((await order.createOrder('80', '12345', '[]')).error).toBe(404);
      for (let i = 0; i < 2; i++) expect((await admin.retrieveClient('900')).CID).toBe('900');
      admin.close();
      order.close();
      // A follower's match index is known to its leader only from its answers: a follower
      // that was slow, or a leader elected since the writes, may not have one yet. And every
      // portal proposes a no-op to each partition every 2 s (its recovery pass): a scrape in
      // the middle of one sees it in flight.
      const adminSendsNothing = (families: Family[]) =>
        ['ecom_storage_client_in_flight', 'ecom_storage_client_waiting'].every((name) => sum(samples(families, name, { process: `admin-server-${adminPort}` })) === 0);
      const after = await scrapeUntil(union, (families) => leadersKnowTheirFollowers(families).length === 2 && adminSendsNothing(families));

      for (const family of after) for (const s of family.samples) expect(s.labels.process, `${s.name} names its process`).toBeDefined();
      const adminLabels = { process: `admin-server-${adminPort}`, grpc_method: 'CreateClient' };
      const delta = (name: string, labels: Record<string, string>) => sum(samples(after, name, labels)) - sum(samples(before, name, labels));
      expect(delta('grpc_server_handled_total', { ...adminLabels, grpc_code: 'OK' })).toBe(WRITES + 1);
      expect(delta('grpc_server_handling_seconds_count', adminLabels)).toBe(WRITES + 1);
      expect(delta('ecom_portal_replies_total', { ...adminLabels, code: '0' })).toBe(WRITES);
      expect(delta('ecom_portal_replies_total', { ...adminLabels, code: '400' })).toBe(1);
      const adminProcess = { process: adminLabels.process };
      expect(delta('ecom_portal_cache_hits_total', adminProcess) + delta('ecom_portal_cache_misses_total', adminProcess), 'each read a hit or a miss').toBe(2);
      expect(delta('ecom_portal_cache_invalidations_total', adminProcess), 'each write invalidates its record').toBeGreaterThanOrEqual(WRITES);
      expect(delta('ecom_portal_replies_total', { process: `order-server-${orderPort}`, grpc_method: 'CreateOrder', code: '404' })).toBe(1);
      // The admin portal wrote to both partitions, never refused busy: each send window is whole and empty.
      const windows = samples(after, 'ecom_storage_client_window_width', adminProcess);
      expect(windows.map((s) => `${s.labels.partition}:${s.value}`).sort()).toEqual(['0:4096', '1:4096']);
      for (const name of ['ecom_storage_client_in_flight', 'ecom_storage_client_waiting', 'ecom_storage_client_busy_total', 'ecom_storage_client_window_cuts_total', 'ecom_storage_client_not_sent_total'])
        expect(sum(samples(after, name, adminProcess)), name).toBe(0);
      expect(samples(after, 'ecom_storage_client_not_sent_total', adminProcess).map((s) => s.labels.reason).sort()).toEqual(['deadline', 'deadline', 'too-many-waiting', 'too-many-waiting']);

      // Storage: two leaders, terms of at least 1, the writes proposed, applied and fsynced.
      const leaders = samples(after, 'ecom_raft_role', { role: 'leader' }).filter((s) => s.value === 1);
      expect(leaders).toHaveLength(2);
      for (const leader of leaders) {
        const matches = followerMatches(after, leader);
        expect(matches, `replica ${leader.labels.replica} in ${leader.labels.process} sees its two followers`).toHaveLength(2);
        for (const m of matches) expect(m.value, `follower ${m.labels.follower} of replica ${leader.labels.replica}`).toBeGreaterThanOrEqual(1);
      }
      expect(samples(after, 'ecom_storage_disk_stalled').map((s) => s.value)).toEqual([0, 0, 0, 0, 0, 0]);
      for (const term of samples(after, 'ecom_raft_term')) expect(term.value).toBeGreaterThanOrEqual(1);
      expect(delta('ecom_raft_proposals_total', { result: 'accepted' })).toBeGreaterThanOrEqual(WRITES);
      expect(delta('ecom_storage_entries_applied_total', {})).toBeGreaterThanOrEqual(WRITES);
      expect(sum(samples(after, 'ecom_raft_log_fsync_seconds_count'))).toBeGreaterThan(0);
      expect(sum(samples(after, 'ecom_raft_log_append_seconds_count'))).toBeGreaterThan(0);
      expect(sum(samples(after, 'ecom_raft_elections_won_total'))).toBeGreaterThanOrEqual(2);
      for (const s of samples(after, 'ecom_storage_lmdb_size_bytes')) expect(s.value).toBeGreaterThan(0);
      expect(samples(after, 'ecom_storage_locks_held')).toHaveLength(6);
      expect(samples(after, 'ecom_replica_info').map((s) => `${s.labels.process}:${s.labels.replica}`).sort()).toEqual(['storage-1_4:1', 'storage-1_4:4', 'storage-2_5:2', 'storage-2_5:5', 'storage-3_6:3', 'storage-3_6:6']);
      // Order 71 + i is on the other partition than client 900 + i (IDs go by parity): each is a two-phase commit.
      expect(delta('ecom_storage_transactions_committed_total', { process: `order-server-${orderPort}` })).toBe(4);
      expect(samples(after, 'process_resident_memory_bytes'), 'default Node metrics from every process').toHaveLength(processes.length);

      // Each process's own endpoint: its series, without a process label (the union adds it).
      const own = await scrape(output.join('\n').match(/storage-1_4 (http:\/\/127\.0\.0\.1:\d+\/metrics)/)![1]!);
      expect(samples(own, 'ecom_raft_term')[0]?.labels.process).toBeUndefined();
    } finally {
      up.process.kill('SIGINT');
      await up.exited;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
