import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Counter } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTROL_ACTIONS, type ControlAction, type ReplicaControls } from '../../src/dashboard/controls.js';
import { ClusterFeed } from '../../src/dashboard/feed.js';
import { startDashboard, type Dashboard } from '../../src/dashboard/server.js';
import { createProcessRegistry } from '../../src/metrics/registry.js';
import { startMetricsServer, type MetricsServer } from '../../src/metrics/server.js';
import { ensureClusterSecret } from '../../src/net/cluster-secret.js';
import { defaultTopology } from '../../src/storage/common/topology.js';
import { silentLogger } from '../../src/util/log.js';
import { spawnEcom, waitForPort } from '../../src/util/processes.js';
import { Prng } from '../../src/util/random.js';
import { freeLocalTopology } from '../../src/storage/common/topology.js';
import { freePort } from '../helpers/ports.js';
import { testSeed } from '../helpers/seed.js';

/**
 * Seeded fuzzing of ecom's two HTTP servers: the dashboard (inside `ecom up`) and the metrics
 * server of every replica, portal and broker. Requests of every shape go to each, raw over
 * TCP so that targets and headers no HTTP client would send get there ("//", absolute forms,
 * bad percent-escapes, foreign hosts, bodies, broken header lines). Each must be answered with
 * a status the server means to give (never 500, which is a handler that threw), the dashboard's
 * controls must be asked exactly by the well-formed control requests of its own page, and both
 * servers must still serve afterwards. A single `GET //` used to stop `ecom up`.
 */
const REQUESTS_PER_SERVER = 400;
const ANSWER_WAIT_MS = 3_000;
const REPLICAS = [1, 2, 3];

interface Sent {
  readonly text: string;
  /** Broken on purpose below HTTP's grammar: Node's parser may answer 400 or just close. */
  readonly malformed: boolean;
  /** The dashboard must carry it out: a well-formed POST of its own page to a real replica and action. */
  readonly control: [number, ControlAction] | undefined;
}

const METHODS = ['GET', 'GET', 'GET', 'HEAD', 'POST', 'POST', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'FOO', 'get'];
const PATHS = ['/', '/app.js', '/style.css', '/api/state', '/api/stream', '/metrics', '/nothing', '/api/replicas', '/api/replicas/', '/api/replicas/1', '/api/replicas/1/', '/..', '/%2e%2e/api/state', '/é', '/api/state/'];
const ODD_TARGETS = ['//', '///', '/\\', '//@', '//x', '*', '%', '/%', '/%zz', '?', '/?a=1&b', '/#frag', 'http://a b/', 'metrics', '//127.0.0.1/metrics'];
const IDS = ['1', '2', '3', '0', '4', '-1', '01', '999999', '1234567', 'abc', '%31', '1.0', ''];
const ACTIONS = [...CONTROL_ACTIONS, 'explode', 'KILL', 'kill ', '', '%6bill', 'kill/x'];

function randomTarget(r: Prng, port: number): string {
  const roll = r.int(10);
  if (roll < 4) return r.pick(PATHS) + (r.chance(0.1) ? `?q=${r.int(100)}` : '');
  if (roll < 7) return `/api/replicas/${r.pick(IDS)}/${r.pick(ACTIONS)}`;
  if (roll < 8) return `http://127.0.0.1:${port}${r.pick([...PATHS, '/api/replicas/2/pause'])}`;
  if (roll < 9) return r.pick(ODD_TARGETS);
  return `/${'a/'.repeat(r.int(3000))}`;
}

/** The path a server should see for `target`, or undefined when it names none (resolved by the WHATWG rules the servers follow). */
function pathOf(target: string): string | undefined {
  return URL.canParse(target, 'http://x') ? new URL(target, 'http://x').pathname : undefined;
}

function randomRequest(r: Prng, port: number): Sent {
  // One in ten is a control request of the dashboard's own page, so that some reach the controls.
  const own = r.chance(0.1);
  const method = own ? 'POST' : r.pick(METHODS);
  const target = own ? `/api/replicas/${r.pick(REPLICAS)}/${r.pick(CONTROL_ACTIONS)}` : randomTarget(r, port);
  const host = own ? `127.0.0.1:${port}` : r.pick([`127.0.0.1:${port}`, `127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, 'evil.example', `evil.example:${port}`, '', undefined]);
  const origin = own ? `http://${host}` : r.pick([host === undefined ? undefined : `http://${host}`, host === undefined ? undefined : `http://${host}`, 'http://evil.example', 'null', undefined]);
  const lines = [`${method} ${target} HTTP/1.${r.chance(0.9) ? 1 : 0}`];
  if (host !== undefined) lines.push(`Host: ${host}`);
  if (origin !== undefined) lines.push(`Origin: ${origin}`);
  if (r.chance(0.2)) lines.push(`X-${r.int(1000)}: ${'v'.repeat(r.int(200))}`);
  let body = '';
  if (r.chance(0.2)) {
    body = Buffer.from(Array.from({ length: r.int(300) }, () => r.int(256))).toString('latin1');
    lines.push(`Content-Length: ${Buffer.byteLength(body, 'latin1')}`);
  }
  lines.push('Connection: close');
  const malformed = r.chance(0.1);
  if (malformed) {
    const at = 1 + r.int(lines.length);
    lines.splice(at, 0, r.pick(['no colon here', ': empty name', 'Bad Header\u0001: x', 'Content-Length: -5', 'Content-Length: 1\r\nContent-Length: 2', 'Transfer-Encoding: chunked\r\nContent-Length: 3']));
  }
  const path = pathOf(target);
  const match = path === undefined ? null : /^\/api\/replicas\/(\d{1,6})\/([a-z]+)$/.exec(path);
  const id = match === null ? NaN : Number(match[1]);
  const action = match?.[2] as ControlAction | undefined;
  const ownPage = host !== undefined && /^(127\.0\.0\.1|localhost|\[::1\]):\d+$/.test(host) && origin === `http://${host}`;
  const control = !malformed && method === 'POST' && ownPage && REPLICAS.includes(id) && action !== undefined && CONTROL_ACTIONS.includes(action) ? ([id, action] as [number, ControlAction]) : undefined;
  return { text: `${lines.join('\r\n')}\r\n\r\n${body}`, malformed, control };
}

/** The status line's code, '' if the server closed without one. A stream (SSE) is cut once its head is in. */
function send(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const socket = connect(port, '127.0.0.1', () => socket.end(Buffer.from(text, 'latin1')));
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${ANSWER_WAIT_MS} ms; got ${JSON.stringify(got.slice(0, 200))}`));
    }, ANSWER_WAIT_MS);
    const done = () => {
      clearTimeout(timer);
      resolve(/^HTTP\/1\.[01] (\d{3}) /.exec(got)?.[1] ?? (got === '' ? '' : `unreadable ${JSON.stringify(got.slice(0, 80))}`));
    };
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      got += chunk;
      if (got.includes('\r\n\r\n') && /content-type: text\/event-stream/i.test(got)) socket.destroy();
    });
    socket.on('close', done);
    socket.on('error', () => undefined);
  });
}

async function fuzz(name: string, port: number, allowed: readonly string[], onEach?: (sent: Sent) => void): Promise<void> {
  const seed = testSeed(name);
  const r = new Prng(seed);
  for (let i = 0; i < REQUESTS_PER_SERVER; i++) {
    const sent = randomRequest(r, port);
    const status = await send(port, sent.text).catch((err: Error) => `failed: ${err.message}`);
    const ok = allowed.includes(status) || (sent.malformed && (status === '' || status === '400'));
    expect(ok, `seed ${seed}, request ${i}: answered ${JSON.stringify(status)} to\n${sent.text.slice(0, 600)}`).toBe(true);
    onEach?.(sent);
  }
}

describe('the HTTP servers under random requests', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ecom-fuzz-http-'));
  const asked: Array<[number, ControlAction]> = [];
  let feed: ClusterFeed;
  let dashboard: Dashboard;
  let metrics: MetricsServer;

  beforeAll(async () => {
    const secretFile = join(dir, 'secret');
    ensureClusterSecret(secretFile);
    feed = new ClusterFeed({ ...defaultTopology(), secretFile });
    const controls: ReplicaControls = {
      replicas: REPLICAS,
      process: () => ({ pid: 1, running: true, paused: false, cut: false }),
      act(id, action) {
        asked.push([id, action]);
        return action === 'heal' ? Promise.reject(new Error(`replica ${id}'s links are not cut`)) : Promise.resolve(`${action} done to replica ${id}`);
      },
      onProcessEvent: () => () => undefined,
    };
    dashboard = await startDashboard({ host: '127.0.0.1', port: 0, feed, controls, log: silentLogger, metrics: () => Promise.resolve('# none\n') });
    const registry = createProcessRegistry();
    new Counter({ name: 'ecom_fuzz_total', help: 'a metric to serve', registers: [registry] }).inc();
    metrics = await startMetricsServer({ registry, host: '127.0.0.1', port: 0, log: silentLogger });
  });

  afterAll(async () => {
    await dashboard?.close();
    await metrics?.close();
    await feed?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('fuzz dashboard http: every request answered as meant, controls only from its own page, still serving', { timeout: 120_000 }, async () => {
    const expected: Array<[number, ControlAction]> = [];
    await fuzz('fuzz dashboard http', dashboard.port, ['200', '400', '403', '404', '405', '409', '431'], (sent) => {
      if (sent.control !== undefined) expected.push(sent.control);
    });
    expect(asked, 'the controls were asked for exactly the well-formed requests of the dashboard page').toEqual(expected);
    expect(expected.length, 'the fuzzer made some valid control requests').toBeGreaterThan(0);
    expect(await send(dashboard.port, `GET /api/state HTTP/1.1\r\nHost: 127.0.0.1:${dashboard.port}\r\nConnection: close\r\n\r\n`)).toBe('200');
    expect(await send(dashboard.port, `GET // HTTP/1.1\r\nHost: 127.0.0.1:${dashboard.port}\r\nConnection: close\r\n\r\n`)).toBe('400');
  });

  it('fuzz metrics http: every request answered as meant, still serving', { timeout: 120_000 }, async () => {
    await fuzz('fuzz metrics http', metrics.port, ['200', '400', '403', '404', '405', '431']);
    expect(await send(metrics.port, `GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:${metrics.port}\r\nConnection: close\r\n\r\n`)).toBe('200');
    expect(await send(metrics.port, `GET // HTTP/1.1\r\nHost: 127.0.0.1:${metrics.port}\r\nConnection: close\r\n\r\n`)).toBe('400');
  });

  it('a real broker and a real ecom dashboard answer "GET //" with 400 and go on serving', { timeout: 60_000 }, async () => {
    const [brokerPort, brokerMetrics, dashboardPort] = [await freePort(), await freePort(), await freePort()];
    const config = join(dir, 'cluster.json');
    writeFileSync(config, JSON.stringify({ ...(await freeLocalTopology()), secretFile: 'secret' }));
    const broker = spawnEcom(['broker', '--port', String(brokerPort), '--metrics-port', String(brokerMetrics)], { name: 'broker' });
    const board = spawnEcom(['dashboard', '--storage-config', config, '--port', String(dashboardPort)], { name: 'dashboard' });
    try {
      await waitForPort('127.0.0.1', brokerMetrics, 30_000, broker);
      await waitForPort('127.0.0.1', dashboardPort, 30_000, board);
      for (const [port, after] of [[brokerMetrics, '/metrics'], [dashboardPort, '/api/state']] as const) {
        for (const target of ['//', '/\\', '//@', '///']) expect(await send(port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`), `GET ${target} on port ${port}`).toBe('400');
        expect(await send(port, `GET ${after} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`)).toBe('200');
      }
      expect([broker.process.exitCode, board.process.exitCode]).toEqual([null, null]);
    } finally {
      await Promise.all([broker.stop(), board.stop()]);
    }
  });
});
