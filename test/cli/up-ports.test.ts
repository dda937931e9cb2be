import { existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freeLocalTopology } from '../../src/storage/common/topology.js';
import { spawnEcom } from '../../src/util/processes.js';
import { runEcom, waitUntilUp } from '../helpers/ecom.js';
import { freePort, listenOn, mqttPortalPorts } from '../helpers/ports.js';


const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function hold(port: number): Promise<void> {
  const server = await listenOn(port);
  cleanup.push(() => new Promise<void>((done) => server.close(() => done())));
}

/**
 * `ecom up` with a port that another program holds, or that two of its parts want: it starts
 * nothing and says which port, for what and what to do. Before, the part that could not bind
 * exited, was restarted for ever, and `ecom up` said the system was up (it took the other
 * program's answer on the port for the part's).
 */
// docs/spec.md: R-PORT-5
describe('ecom up refuses ports it cannot have, before it starts anything', () => {
  it('mqtt mode: the second AdminPortal, 10 above --admin-port, held by another program', async () => {
    const [adminPort, orderPort, brokerPort] = [await mqttPortalPorts(), await mqttPortalPorts(), await freePort()];
    await hold(adminPort + 10);
    const run = await runEcom(['up', '--mode', 'mqtt', '--admin-port', String(adminPort), '--order-port', String(orderPort), '--broker-port', String(brokerPort)]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`ecom: nothing started: a port it needs cannot be had\n  port ${adminPort + 10} (AdminPortal 2 (at --admin-port + 10)): in use by pid ${process.pid} (`);
    expect(run.stderr).toContain('Stop what holds them, or choose other ports (--admin-port).');
    expect(run.stdout + run.stderr).not.toContain('system is up');
    expect(run.stdout + run.stderr).not.toContain('MQTT broker is listening');
  });

  it('mqtt mode: ports two of its parts would both listen on', async () => {
    const [adminPort, brokerPort] = [await mqttPortalPorts(), await freePort()];
    const run = await runEcom(['up', '--mode', 'mqtt', '--admin-port', String(adminPort), '--order-port', String(adminPort + 10), '--broker-port', String(brokerPort)]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`port ${adminPort + 10}: wanted by both AdminPortal 2 (at --admin-port + 10) and OrderPortal 1`);
  });

  it('single mode: a taken OrderPortal port, before the AdminPortal serves', async () => {
    const [adminPort, orderPort] = [await freePort(), await freePort()];
    await hold(orderPort);
    const run = await runEcom(['up', '--mode', 'single', '--admin-port', String(adminPort), '--order-port', String(orderPort)]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`port ${orderPort} (the OrderPortal): in use by pid ${process.pid} (`);
    expect(run.stdout + run.stderr).not.toContain('serving');
  });

  it('names another ecom up that holds every port, and where it was started', async () => {
    const [adminPort, orderPort, brokerPort] = [await freePort(), await freePort(), await freePort()];
    const dir = mkdtempSync(join(tmpdir(), 'ecom-up-ports-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const args = ['up', '--mode', 'mqtt', '--admins', '1', '--orders', '1', '--admin-port', String(adminPort), '--order-port', String(orderPort), '--broker-port', String(brokerPort), '--cluster-secret', join(dir, 'cluster.secret')];
    const lines: string[] = [];
    const first = spawnEcom(args, { name: 'up', onLine: (_n, line) => lines.push(line), cwd: dir });
    cleanup.push(async () => {
      await first.stop();
    });
    await waitUntilUp(lines, first);
    const run = await runEcom(args);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('ecom: nothing started: 3 ports it needs cannot be had');
    expect(run.stderr).toContain(`They are all held by the processes of pid ${first.pid} (`);
    expect(run.stderr).toContain(`, started in ${realpathSync(dir)}): stop it (Ctrl-C in its terminal, or kill ${first.pid}).`);
  });

  it('raft mode: a taken portal port is refused before --fresh wipes anything', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ecom-up-ports-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const config = join(dir, 'storage-config.json');
    writeFileSync(config, JSON.stringify(await freeLocalTopology()));
    const data = join(dir, 'data');
    mkdirSync(data);
    writeFileSync(join(data, 'kept'), 'the data --fresh would wipe\n');
    const [adminPort, orderPort, brokerPort] = [await freePort(), await freePort(), await freePort()];
    await hold(orderPort);
    const run = await runEcom(['up', '--fresh', '--yes', '--data', data, '--storage-config', config, '--admin-port', String(adminPort), '--order-port', String(orderPort), '--broker-port', String(brokerPort), '--dashboard-port', '0']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`port ${orderPort} (the OrderPortal): in use by pid ${process.pid} (`);
    expect(existsSync(join(data, 'kept'))).toBe(true);
  });
});
