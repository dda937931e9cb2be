import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { listenOn } from '../helpers/ports.js';
import { describe, expect, it } from 'vitest';
import { claimPorts, freePort, freePortSeries, PORT_DEPTH_ENV } from '../../src/util/ports.js';
import { DEFAULTS } from '../../src/config/defaults.js';
import { DEFAULT_CLIENT_PORT_BASE, DEFAULT_RAFT_PORT_BASE } from '../../src/storage/common/topology.js';


describe('freePort', () => {
  // docs/spec.md: R-PORT-1
  it('hands out distinct ports that can be bound, outside the range the kernel assigns by itself (CI: EADDRINUSE)', async () => {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number) as [number, number];
    const ports: number[] = [];
    for (let i = 0; i < 40; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(ports.length);
    for (const port of ports) expect(port < low || port > high, `port ${port} inside ${low}-${high}`).toBe(true);
    // The system's default ports (docs/spec.md R-PORT-1) are never handed out, so tests can run beside it.
    expect([DEFAULTS.adminPort, DEFAULTS.orderPort, DEFAULTS.mqttPort, DEFAULT_CLIENT_PORT_BASE + 1, DEFAULT_RAFT_PORT_BASE + 1]).toEqual([55006, 55005, 1884, 20001, 30001]);
    for (const port of ports) expect([1884, 55005, 55006].includes(port) || (port > 20_000 && port < 20_100) || (port >= 23_790 && port <= 23_799) || (port > 30_000 && port < 30_100)).toBe(false);
    const servers = await Promise.all(ports.map(listenOn));
    await Promise.all(servers.map((s) => new Promise((done) => s.close(done))));
  });

  it('skips a port something already listens on', async () => {
    const first = await freePort();
    // Hold the next ports in this worker's slice; the next port handed out must be one nobody holds.
    const held = await Promise.all([1, 2, 3].map((d) => listenOn(first + d).catch(() => undefined)));
    const next = await freePort();
    expect([first + 1, first + 2, first + 3].filter((p, i) => held[i] !== undefined)).not.toContain(next);
    const server = await listenOn(next);
    const open = [...held, server].filter((s): s is Server => s !== undefined);
    await Promise.all(open.map((s) => new Promise((done) => s.close(done))));
  });

  it('never hands a child process a port its parent has handed out and not yet bound (CI: ecom up met its own portal port)', async () => {
    const parent: number[] = [];
    // A third of a part each: were parent and child to share a part, dozens of ports would
    // collide; and this file's other tests still find their ports in the band.
    const count = 120;
    for (let i = 0; i < count; i++) parent.push(await freePort());
    // A child as spawnEcom starts it: same vitest worker, one generation down.
    const module = fileURLToPath(new URL('../../src/util/ports.ts', import.meta.url));
    const code = `const { freePort } = await import(${JSON.stringify(module)}); const p = []; for (let i = 0; i < ${count}; i++) p.push(await freePort()); console.log(JSON.stringify(p));`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      env: { ...process.env, [PORT_DEPTH_ENV]: String(Number(process.env[PORT_DEPTH_ENV] ?? 0) + 1) },
    });
    const child = JSON.parse(stdout) as number[];
    expect(child).toHaveLength(count);
    expect(child.filter((port) => parent.includes(port))).toEqual([]);
  });

  it('hands out a series of ports a step apart, all free and none handed out again (CI: a second portal 10 above its port met another process)', async () => {
    const firsts: number[] = [];
    for (let i = 0; i < 20; i++) firsts.push(await freePortSeries(2, 10));
    const series = firsts.flatMap((first) => [first, first + 10]);
    const singles: number[] = [];
    for (let i = 0; i < 60; i++) singles.push(await freePort());
    expect(new Set([...series, ...singles]).size).toBe(series.length + singles.length);
    // From the band, where no connection is lent a port (the file leaves its part room enough).
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number) as [number];
    for (const port of [...series, ...singles]) expect(port, `port ${port}`).toBeLessThan(low);
    const servers = await Promise.all(series.map(listenOn));
    await Promise.all(servers.map((s) => new Promise((done) => s.close(done))));
  });
});

describe('claimPorts', () => {
  it('names every port that is taken or wanted twice, with what wanted it and what holds it, and claims nothing then', async () => {
    const [taken, free, other] = [await freePort(), await freePort(), await freePort()];
    const server = await listenOn(taken);
    try {
      const error = await claimPorts([
        { host: '127.0.0.1', port: free, what: 'AdminPortal 1', option: '--admin-port' },
        { host: '127.0.0.1', port: taken, what: 'AdminPortal 2 (at --admin-port + 10)', option: '--admin-port' },
        { host: '127.0.0.1', port: free, what: 'OrderPortal 1', option: '--order-port' },
        { host: '127.0.0.1', port: other, what: 'the broker', option: '--broker-port' },
        { host: '127.0.0.1', port: 65_540, what: 'AdminPortal 2 (at --admin-port + 10)', option: '--admin-port' },
        // 0 is "any free port", taken when the part listens: never a clash.
        { host: '127.0.0.1', port: 0, what: 'the dashboard', option: '--dashboard-port' },
        { host: '127.0.0.1', port: 0, what: 'the metrics', option: '--metrics-port' },
      ]).then(() => undefined, (err: Error) => err.message);
      expect(error).toMatch(
        new RegExp(
          `^nothing started: 3 ports it needs cannot be had\\n` +
            `  port ${free}: wanted by both AdminPortal 1 and OrderPortal 1\\n` +
            `  port 65540 \\(AdminPortal 2 \\(at --admin-port \\+ 10\\)\\): not a port \\(1-65535\\)\\n` +
            `  port ${taken} \\(AdminPortal 2 \\(at --admin-port \\+ 10\\)\\): in use by pid ${process.pid} \\([^\\n]*node[^\\n]*\\)\\n` +
            `Stop what holds them, or choose other ports \\(--admin-port, --order-port\\)\\.$`,
        ),
      );
    } finally {
      await new Promise((done) => server.close(done));
    }
  });

  it('names no common parent but another ecom up: the test runner holding two ports is not one', async () => {
    const ports = [await freePort(), await freePort()];
    const servers = await Promise.all(ports.map(listenOn));
    try {
      const error = await claimPorts(ports.map((port, i) => ({ host: '127.0.0.1', port, what: `part ${i}`, option: '--part' }))).then(() => '', (err: Error) => err.message);
      expect(error).toContain(`port ${ports[1]} (part 1): in use by pid ${process.pid} (`);
      expect(error).not.toContain('They are all held by');
    } finally {
      await Promise.all(servers.map((s) => new Promise((done) => s.close(done))));
    }
  });

  it('says when the port is a connection\'s local end, lent by the kernel, rather than a program listening', async () => {
    const server = await listenOn(await freePort());
    const port = (server.address() as AddressInfo).port;
    const client = await new Promise<Socket>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => resolve(socket));
      socket.once('error', reject);
    });
    try {
      const lent = client.localPort!;
      const error = await claimPorts([{ host: '127.0.0.1', port: lent, what: 'the AdminPortal', option: '--admin-port' }]).then(() => '', (err: Error) => err.message);
      const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
      // The kernel may have lent this port before, so an older connection of it can still be in
      // TIME_WAIT beside ours (CI, 22:22Z): ours must be among the states named, not the only one.
      const states = /as its local end \(([A-Z_, 0-9]+)\)/.exec(error)?.[1]?.split(', ') ?? [];
      expect(states).toContain('ESTABLISHED');
      expect(error).toContain(`port ${lent} (the AdminPortal): in use by a connection of this machine, as its local end (`);
      expect(error).toContain(`): the kernel lends ports ${low}-${high} to outgoing connections; try again in a moment, or choose a port outside that range`);
    } finally {
      client.destroy();
      await new Promise((done) => server.close(done));
    }
  });

  it('keeps the ports it claimed from freePort in this process', async () => {
    // In a fresh process: this file's earlier tests use up most of its part of the band, after
    // which freePort asks the OS, whose ports a connection's TIME_WAIT can hold (CI, 18:56Z).
    const module = fileURLToPath(new URL('../../src/util/ports.ts', import.meta.url));
    const code = [
      `const { claimPorts, freePort } = await import(${JSON.stringify(module)});`,
      // The next ports freePort would hand out, claimed first: it must pass over them.
      'const probe = await freePort();',
      'const wanted = Array.from({ length: 30 }, (_, i) => probe + 1 + i);',
      "await claimPorts(wanted.map((port) => ({ host: '127.0.0.1', port, what: `part ${port}`, option: '--part' })));",
      'const handedOut = [];',
      'for (let i = 0; i < 30; i++) handedOut.push(await freePort());',
      'console.log(JSON.stringify({ probe, wanted, handedOut }));',
    ].join('\n');
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      env: { ...process.env, [PORT_DEPTH_ENV]: String(Number(process.env[PORT_DEPTH_ENV] ?? 0) + 1) },
    });
    const { probe, wanted, handedOut } = JSON.parse(stdout) as { probe: number; wanted: number[]; handedOut: number[] };
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number) as [number];
    expect(probe, 'a port from the band, as a fresh process hands out').toBeLessThan(low);
    expect(handedOut).toHaveLength(30);
    expect(handedOut.filter((port) => wanted.includes(port))).toEqual([]);
  });
});
