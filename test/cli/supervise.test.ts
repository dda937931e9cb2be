import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freeLocalTopology } from '../../src/storage/common/topology.js';
import { childPortDepth } from '../../src/util/ports.js';
import { ECOM_BIN, spawnEcom, waitForPort } from '../../src/util/processes.js';
import { runEcom } from '../helpers/ecom.js';
import { freePort } from '../helpers/ports.js';

/** `ecom up` supervises what it starts (issue #14 item 3): a child that dies is reported and, by default, restarted. */

interface LogLine {
  readonly msg?: string;
  readonly lastLines?: string[];
}

/** Resolves with the first line that satisfies `match`, reading `lines` as they arrive. */
async function lineMatching(lines: string[], match: (line: LogLine) => boolean, timeout_ms: number): Promise<LogLine> {
  const deadline = Date.now() + timeout_ms;
  for (;;) {
    const found = lines.map((l) => { try { return JSON.parse(l) as LogLine; } catch { return {}; } }).find(match);
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`no such line in time; the last ones:\n${lines.slice(-20).join('\n')}`);
    // ecom up's output has no event to await but its lines: poll them.
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('ecom up supervises its children', () => {
  // docs/spec.md: R-CLI-11
  it('raft mode: a replica killed with SIGKILL is reported with its last lines and restarted', { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ecom-supervise-'));
    const config = join(dir, 'cluster.json');
    writeFileSync(config, JSON.stringify(await freeLocalTopology()));
    const [adminPort, orderPort] = [await freePort(), await freePort()];
    const lines: string[] = [];
    const up = spawnEcom(['up', '--data', join(dir, 'data'), '--storage-config', config, '--admin-port', String(adminPort), '--order-port', String(orderPort), '--broker-port', String(await freePort()), '--dashboard-port', '0'], {
      name: 'up',
      onLine: (_n, line) => lines.push(line),
      env: { ECOM_LOG_FORMAT: 'json' },
    });
    try {
      // ecom up starts both portals at once: each port says only that its own portal listens.
      for (const port of [adminPort, orderPort]) await waitForPort('127.0.0.1', port, 60_000, up);
      const started = await lineMatching(lines, (l) => /^storage 3: .* pid \d+$/.test(l.msg ?? ''), 30_000);
      const pid = Number(/pid (\d+)$/.exec(started.msg!)![1]);
      process.kill(pid, 'SIGKILL');
      // Colocated by default: replica 3's process hosts replica 6 too.
      const reported = await lineMatching(lines, (l) => (l.msg ?? '').startsWith(`storage-3_6 (pid ${pid}) exited unexpectedly`), 10_000);
      expect(reported.msg).toContain('(signal SIGKILL); restarting it in 500 ms');
      expect(reported.lastLines?.length, 'the report carries the last lines the replica printed').toBeGreaterThan(0);
      await lineMatching(lines, (l) => /^storage-3_6 restarted \(pid \d+, restart 1\)$/.test(l.msg ?? ''), 10_000);
      const secret = join(dir, 'data', 'cluster.secret');
      // Back in the partition: status shows all six up again.
      const deadline = Date.now() + 20_000;
      let status = await runEcom(['status', '--storage-config', config, '--cluster-secret', secret]);
      while (status.stdout.includes('down') && Date.now() < deadline) status = await runEcom(['status', '--storage-config', config, '--cluster-secret', secret]);
      expect(status.stdout).not.toContain('down');
      expect(status.stdout.match(/replica \d/g)).toHaveLength(6);
      expect(await up.stop(20_000)).toBe(0);
    } finally {
      await up.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('mqtt mode with --restart no: a portal that dies is reported and left down', { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ecom-norestart-'));
    const [adminPort, orderPort, brokerPort] = [await freePort(), await freePort(), await freePort()];
    const lines: string[] = [];
    const args = ['up', '--mode', 'mqtt', '--admins', '1', '--orders', '1', '--admin-port', String(adminPort), '--order-port', String(orderPort), '--broker-port', String(brokerPort)];
    const up = spawnEcom([...args, '--restart', 'no', '--cluster-secret', join(dir, 'cluster.secret')], { name: 'up', onLine: (_n, line) => lines.push(line), env: { ECOM_LOG_FORMAT: 'json' } });
    try {
      // ecom up starts both portals at once: each port says only that its own portal listens.
      for (const port of [adminPort, orderPort]) await waitForPort('127.0.0.1', port, 30_000, up);
      await lineMatching(lines, (l) => (l.msg ?? '').includes('system is up'), 20_000);
      const portalPid = Number(/"pid":(\d+),"name":"order-server-/.exec(lines.find((l) => l.includes('"name":"order-server-')) ?? '')?.[1]);
      expect(portalPid).toBeGreaterThan(0);
      process.kill(portalPid, 'SIGKILL');
      const reported = await lineMatching(lines, (l) => (l.msg ?? '').startsWith(`order-${orderPort} (pid ${portalPid}) exited unexpectedly`), 10_000);
      expect(reported.msg).toContain('not restarting it (--restart no)');
      const refused = await runEcom(['order', 'get-order', '1', '--port', String(orderPort)]);
      expect(refused.code, 'the portal stays down').toBe(3);
      expect(await up.stop(15_000)).toBe(0);
    } finally {
      await up.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('raft mode: a Ctrl-C to the whole process group stops everything with no child reported as failed', { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ecom-ctrlc-'));
    const config = join(dir, 'cluster.json');
    writeFileSync(config, JSON.stringify(await freeLocalTopology()));
    const args = ['up', '--data', join(dir, 'data'), '--storage-config', config, '--admin-port', String(await freePort()), '--order-port', String(await freePort()), '--broker-port', String(await freePort()), '--dashboard-port', '0'];
    // Its own process group, as a terminal's foreground job: SIGINT to the group reaches every child at once.
    const up = spawn(process.execPath, [ECOM_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, ECOM_LOG_FORMAT: 'json', ...childPortDepth() } });
    const lines: string[] = [];
    const isUp = new Promise<void>((resolve) => {
      for (const stream of [up.stdout, up.stderr]) {
        createInterface({ input: stream }).on('line', (line) => {
          lines.push(line);
          if (line.includes('system is up')) resolve();
        });
      }
    });
    const exited = new Promise<number | null>((resolve) => up.once('exit', (code) => resolve(code)));
    try {
      await isUp;
      process.kill(-up.pid!, 'SIGINT');
      expect(await exited, lines.slice(-30).join('\n')).toBe(0);
      const failures = lines.filter((l) => /exited unexpectedly|halted on an internal failure|restarted \(pid/.test(l));
      expect(failures, 'no child is reported as failed or restarted on a Ctrl-C').toEqual([]);
    } finally {
      try {
        process.kill(-up.pid!, 'SIGKILL');
      } catch {
        // The group is gone: everything stopped.
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
