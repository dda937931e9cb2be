import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freeLocalTopology } from '../../src/storage/common/topology.js';
import { spawnEcom, waitForPort } from '../../src/util/processes.js';
import { freePort } from '../helpers/ports.js';
import { waitUntilUp } from '../helpers/ecom.js';

/** A dashboard port held by another program costs the dashboard, with a warning that says what to do, never the system. */
describe('ecom up with its dashboard port taken', () => {
  it('warns, serves everything else, and stops cleanly', { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ecom-dashboard-taken-'));
    const config = join(dir, 'cluster.json');
    writeFileSync(config, JSON.stringify(await freeLocalTopology()));
    const [adminPort, orderPort, brokerPort, dashboardPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const holder = createServer().listen(dashboardPort, '127.0.0.1');
    await new Promise((resolve) => holder.once('listening', resolve));
    const lines: string[] = [];
    const args = ['up', '--data', join(dir, 'data'), '--storage-config', config, '--admin-port', String(adminPort), '--order-port', String(orderPort), '--broker-port', String(brokerPort), '--dashboard-port', String(dashboardPort)];
    const up = spawnEcom(args, { name: 'up', onLine: (_n, line) => lines.push(line), env: { ECOM_LOG_FORMAT: 'json' } });
    try {
      await waitForPort('127.0.0.1', orderPort, 90_000, up);
      await waitUntilUp(lines, up);
      const warning = lines.find((l) => l.includes('no dashboard:'));
      expect(warning).toContain(`port ${dashboardPort} on 127.0.0.1 is taken by another program; everything else runs. Choose a free port with --dashboard-port N (0 for none)`);
      expect(lines.find((l) => l.includes('system is up'))).not.toContain('watch it at');
      up.process.kill('SIGINT');
      expect(await up.exited).toBe(0);
    } finally {
      await up.kill();
      holder.close();
      // Its replicas stop when they see it gone, a moment later: retry rather than let a failed rmdir hide the test's own error.
      rmSync(dir, { recursive: true, force: true, maxRetries: 10 });
    }
  });
});
