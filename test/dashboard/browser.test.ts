import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { freeLocalTopology } from '../../src/storage/common/topology.js';
import { spawnEcom, waitForPort, type EcomChild } from '../../src/util/processes.js';
import { freePort } from '../helpers/ports.js';
import { PortalClient } from '../../src/client/portal-client.js';
import { waitUntilUp } from '../helpers/ecom.js';

/**
 * The dashboard in a real browser (Debian's chromium, driven by playwright-core; never a
 * downloaded browser): `ecom up` on free ports, six replicas and two leaders on the page, a
 * leader killed with the page's button, its partition's new leader on the page within two
 * seconds; the other partition's leader cut off from its peers with the page's button, a new
 * leader shown, the old one marked cut, then healed back to a follower. Leaves a screenshot in
 * test-output/dashboard.png (taken while the replica is cut off).
 */
const CHROMIUM = '/usr/bin/chromium';
const OUTPUT = join(import.meta.dirname, '..', '..', 'test-output');

if (process.env.CI && !existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: .ci/run installs Debian's chromium package; CI runs the browser test, never skips it`);

async function startUp(dir: string): Promise<{ up: EcomChild; url: string; output: string[]; adminPort: number }> {
  const config = join(dir, 'cluster.json');
  writeFileSync(config, JSON.stringify(await freeLocalTopology()));
  const [adminPort, orderPort, brokerPort, dashboardPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const output: string[] = [];
  const args = ['up', '--data', join(dir, 'data'), '--storage-config', config, '--admin-port', String(adminPort), '--order-port', String(orderPort), '--broker-port', String(brokerPort), '--dashboard-port', String(dashboardPort)];
  const up = spawnEcom(args, { name: 'up', onLine: (_n, line) => output.push(line), env: { ECOM_LOG_FORMAT: 'json' } });
  // ecom up says it is up, with the dashboard's address, once the replicas have leaders: wait for
  // that line rather than for the port, which another program could hold (ecom up then warns).
  const url = `http://127.0.0.1:${dashboardPort}/`;
  try {
    await waitForPort('127.0.0.1', orderPort, 90_000, up);
    await waitUntilUp(output, up);
    expect(output.find((l) => l.includes('system is up')), `ecom up serves the dashboard; its output:\n${output.slice(-20).join('\n')}`).toContain(`watch it at ${url}`);
  } catch (err) {
    await up.kill();
    throw err;
  }
  return { up, url, output, adminPort };
}

describe.skipIf(!existsSync(CHROMIUM))('dashboard in a browser', () => {
  it('shows six replicas and two leaders; a leader killed from the page, its successor within 2 s; a leader cut off and healed', { timeout: 180_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ecom-dashboard-'));
    let up: EcomChild | undefined;
    let browser: Browser | undefined;
    try {
      const started = await startUp(dir);
      up = started.up;
      browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      await page.goto(started.url);
      // Functions evaluated in the page are given as text: this project's TypeScript has no DOM types.
      await page.waitForFunction(`document.querySelectorAll('tr[data-replica]').length === 6 && document.querySelectorAll('tr[data-role="leader"]').length === 2`, undefined, { timeout: 20_000 });
      const leaderOf = (partition: number) => page.getAttribute(`.partition[data-partition="${partition}"]`, 'data-leader');
      // Its leader now, waiting out an election (a loaded machine can stall a replica past its 150 ms election timeout).
      const currentLeader = async (partition: number) => String(await (await page.waitForFunction(`document.querySelector('.partition[data-partition="${partition}"]').dataset.leader.replace(/^0$/, '')`, undefined, { timeout: 10_000 })).jsonValue());
      const victim = await currentLeader(0);
      expect(['1', '2', '3']).toContain(victim);
      expect(['4', '5', '6']).toContain(await currentLeader(1));
      // The portals panel: twenty writes, one of them refused (a client that exists), by RPC with its reply code.
      const client = new PortalClient({ host: '127.0.0.1', port: started.adminPort });
      try {
        for (let i = 1; i <= 20; i++) expect(await client.createClient(String(i), `{"name": "client ${i}"}`)).toEqual({ error: 0 });
        expect((await client.createClient('1', '{"name": "again"}')).error).not.toBe(0);
      } finally {
        client.close();
      }
      await page.waitForSelector('#portals tr[data-method="CreateClient"] td:has-text("reply 400")', { timeout: 10_000 });
      expect(await page.isDisabled(`tr[data-replica="${victim}"] button[data-action="resume"]`), 'only a paused replica can be resumed').toBe(true);
      const termBefore = Number(await page.getAttribute('.partition[data-partition="0"]', 'data-term'));
      const clicked = Date.now();
      await page.click(`tr[data-replica="${victim}"] button[data-action="kill"]`);
      await page.waitForFunction(`!['0', '${victim}'].includes(document.querySelector('.partition[data-partition="0"]').dataset.leader)`, undefined, { timeout: 2_000 });
      const elected_ms = Date.now() - clicked;
      const newLeader = await leaderOf(0);
      expect(Number(await page.getAttribute('.partition[data-partition="0"]', 'data-term')), 'the new leader won a later term').toBeGreaterThan(termBefore);
      await page.waitForSelector(`#timeline li:has-text("partition 0: replica ${newLeader} won the election")`, { timeout: 2_000 });
      expect(await page.textContent('#timeline')).toContain(`you: killed replica ${victim} (kill -9`);
      // Cut partition 1's leader off from its peers: it keeps running, its partition elects another.
      const isolated = await currentLeader(1);
      expect(await page.isDisabled(`tr[data-replica="${isolated}"] button[data-action="heal"]`), 'only a cut replica can be healed').toBe(true);
      const cutAt = Date.now();
      await page.click(`tr[data-replica="${isolated}"] button[data-action="cut"]`);
      await page.waitForFunction(`!['0', '${isolated}'].includes(document.querySelector('.partition[data-partition="1"]').dataset.leader)`, undefined, { timeout: 5_000 });
      const cutElected_ms = Date.now() - cutAt;
      await page.waitForSelector(`tr[data-replica="${isolated}"][data-cut="true"]:not([data-role="leader"]) td.process:has-text("cut off")`, { timeout: 2_000 });
      expect(await page.textContent('#timeline')).toContain(`you: replica ${isolated} cut off from its peers`);
      mkdirSync(OUTPUT, { recursive: true });
      await page.screenshot({ path: join(OUTPUT, 'dashboard.png'), fullPage: true });
      await page.click(`tr[data-replica="${isolated}"] button[data-action="heal"]`);
      await page.waitForSelector(`tr[data-replica="${isolated}"][data-cut="false"][data-role="follower"]`, { timeout: 10_000 });
      expect(await page.textContent('#timeline')).toContain(`you: replica ${isolated} healed`);
      process.stdout.write(`dashboard: new leader ${newLeader} of partition 0 shown ${elected_ms} ms after the kill; partition 1's shown ${cutElected_ms} ms after its leader was cut; screenshot ${join(OUTPUT, 'dashboard.png')}\n`);
      await browser.close();
      browser = undefined;
      up.process.kill('SIGINT');
      expect(await up.exited, `ecom up stops cleanly on Ctrl-C; its last lines:\n${started.output.slice(-10).join('\n')}`).toBe(0);
    } finally {
      await browser?.close();
      await up?.kill();
      // Its replicas stop when they see it gone, a moment later: retry rather than let a failed rmdir hide the test's own error.
      rmSync(dir, { recursive: true, force: true, maxRetries: 10 });
    }
  });
});
