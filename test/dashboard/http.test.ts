import { request } from 'node:http';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterView } from '../../src/dashboard/cluster-view.js';
import { serveDashboard } from '../../src/dashboard/serve.js';
import { MAX_STREAMS, type Dashboard } from '../../src/dashboard/server.js';
import type { TimelineEvent } from '../../src/dashboard/timeline.js';
import { tierControls } from '../../src/modes/raft/tier-controls.js';
import { silentLogger } from '../../src/util/log.js';
import { sharedRaftCluster } from '../raft-mode/cluster.js';
import { freePort } from '../helpers/ports.js';
import { spawnEcom, waitForPort } from '../../src/util/processes.js';

/** The dashboard's HTTP side against a real storage tier: JSON state, the SSE stream, the controls and their refusals. */

interface State {
  view?: ClusterView;
  events: TimelineEvent[];
  controls: { enabled: boolean; why: string; links?: { enabled: boolean; why: string } };
}

function call(port: number, path: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const control = (dashboard: Dashboard, path: string, origin = `http://127.0.0.1:${dashboard.port}`) => call(dashboard.port, path, { method: 'POST', headers: { origin } });

async function stateWhere(port: number, ok: (s: State) => boolean, timeout_ms: number): Promise<State> {
  const deadline = Date.now() + timeout_ms;
  for (;;) {
    const state = JSON.parse((await call(port, '/api/state')).body) as State;
    if (ok(state)) return state;
    if (Date.now() > deadline) throw new Error(`the dashboard's state never got there; last:\n${JSON.stringify(state, null, 1).slice(0, 3000)}`);
    // The state is a poll result: poll it in turn.
    await new Promise((r) => setTimeout(r, 50));
  }
}

const leaders = (s: State) => s.view?.partitions.map((p) => p.leader) ?? [];
/** Polled, and every partition has a leader. */
const settled = (s: State) => s.view !== undefined && leaders(s).every((l) => l !== 0);

describe('dashboard over HTTP', () => {
  const cluster = sharedRaftCluster();
  let dashboard: Dashboard;
  beforeAll(async () => {
    dashboard = await serveDashboard({ topology: cluster.topology, host: '127.0.0.1', port: 0, controls: tierControls(cluster.tier), log: silentLogger });
  });
  afterAll(async () => dashboard?.close());

  it('serves the page, its script, and the state with every replica and both leaders', async () => {
    const page = await call(dashboard.port, '/');
    expect(page.status).toBe(200);
    expect(page.body).toContain('<script src="/app.js">');
    expect((await call(dashboard.port, '/app.js')).body).toContain('EventSource');
    const state = await stateWhere(dashboard.port, settled, 10_000);
    expect(state.view?.partitions.flatMap((p) => p.replicas)).toHaveLength(6);
    const follower = state.view!.partitions[0]!.replicas.find((r) => r.role === 'follower');
    expect(follower?.match, "the leader's view of a follower").toBeTypeOf('number');
    expect(follower?.process?.running).toBe(true);
    expect(state.controls.enabled).toBe(true);
  });

  it('pushes the state as Server-Sent Events at least twice a second', async () => {
    const started = Date.now();
    const response = await fetch(`${dashboard.url}api/stream`);
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    while ((text.match(/^event: update$/gm) ?? []).length < 3) text += (await reader.read()).value ?? '';
    await reader.cancel();
    expect(text.startsWith('retry: 1000\nevent: state\n')).toBe(true);
    // Three updates are two poll intervals after a first round: well under two seconds when they come at least twice a second.
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('refuses what is not its own page, an unknown replica or action, and other methods', async () => {
    const port = dashboard.port;
    expect((await call(port, '/api/replicas/1/kill', { method: 'POST' })).body).toContain('Origin missing');
    const foreign = await control(dashboard, '/api/replicas/1/kill', 'http://evil.example');
    expect(foreign.status).toBe(403);
    expect(foreign.body).toContain("only the dashboard's own page");
    // DNS rebinding: a foreign page reaching 127.0.0.1 under its own name sends matching Host and Origin.
    const rebound = await call(port, '/api/replicas/1/kill', { method: 'POST', headers: { host: `evil.example:${port}`, origin: `http://evil.example:${port}` } });
    expect(rebound.status).toBe(403);
    expect(rebound.body).toContain('refused Host');
    const unknown = await control(dashboard, '/api/replicas/9/kill');
    expect(unknown.status).toBe(404);
    expect(unknown.body).toContain('are 1, 2, 3, 4, 5, 6');
    expect((await control(dashboard, '/api/replicas/1/explode')).body).toContain('choose kill, pause, resume, restart, cut, heal');
    // This tier runs without link proxies (links.test.ts has them): cut and heal say so, the rest works.
    const cut = await control(dashboard, '/api/replicas/1/cut');
    expect(cut.status).toBe(403);
    expect(cut.body).toContain('cut and heal need the proxies \\"ecom up\\" puts on the Raft links');
    expect((JSON.parse((await call(port, '/api/state')).body) as State).controls.links?.enabled).toBe(false);
    expect((await control(dashboard, '/api/replicas/1/resume')).body).toContain('replica 1 is not paused');
    expect((await call(port, '/api/state', { headers: { host: 'rebound.example:80' } })).status).toBe(403);
    expect((await call(port, '/api/state', { method: 'PUT' })).status).toBe(405);
    expect((await call(port, '/api/stream', { method: 'HEAD' })).status, 'HEAD answers at once, holding no stream').toBe(200);
    expect((await call(port, '/nothing')).status).toBe(404);
  });

  it('kills a leader from a POST; the timeline tells the new leader; restart brings the replica back', { timeout: 30_000 }, async () => {
    const before = await stateWhere(dashboard.port, settled, 10_000);
    const old = before.view!.partitions[1]!.leader;
    const killed = await control(dashboard, `/api/replicas/${old}/kill`);
    expect(killed.body).toContain(`killed replica ${old} (kill -9`);
    const after = await stateWhere(dashboard.port, (s) => ![0, old].includes(s.view!.partitions[1]!.leader), 10_000);
    expect(after.view!.partitions[1]!.replicas.find((r) => r.id === old)?.down).toBeDefined();
    const texts = after.events.map((e) => e.text);
    expect(texts).toContain(`you: killed replica ${old} (kill -9, pid ${before.view!.partitions[1]!.replicas.find((r) => r.id === old)?.process?.pid})`);
    expect(texts.some((t) => t.startsWith(`partition 1: replica ${after.view!.partitions[1]!.leader} won the election for term`))).toBe(true);
    expect((await control(dashboard, `/api/replicas/${old}/restart`)).body).toContain(`restarted replica ${old}`);
    const back = await stateWhere(dashboard.port, (s) => s.view!.partitions[1]!.replicas.every((r) => r.down === undefined), 20_000);
    expect(back.events.some((e) => e.text.startsWith(`replica ${old} answers again`))).toBe(true);
  });

  it('refuses a page beyond the bound on open streams, and serves again once one closes', async () => {
    const open = await Promise.all(Array.from({ length: MAX_STREAMS }, () => new AbortController()).map(async (abort) => ({ abort, response: await fetch(`${dashboard.url}api/stream`, { signal: abort.signal }) })));
    try {
      expect(open.every((o) => o.response.status === 200)).toBe(true);
      const refused = await call(dashboard.port, '/api/stream');
      expect(refused.status).toBe(503);
      expect(refused.body).toContain(`${MAX_STREAMS} dashboard pages are open already`);
    } finally {
      for (const o of open) o.abort.abort();
    }
    const deadline = Date.now() + 5_000;
    // The server learns of each closed stream from its socket: poll until it has.
    while ((await fetch(`${dashboard.url}api/stream`).then(async (r) => (await r.body?.cancel(), r.status))) !== 200) {
      if (Date.now() > deadline) throw new Error('streams stayed counted after their clients left');
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  it('a dashboard of a cluster it did not start has no controls and says why', async () => {
    const bare = await serveDashboard({ topology: cluster.topology, host: '127.0.0.1', port: 0, log: silentLogger });
    try {
      const refused = await control(bare, '/api/replicas/1/kill');
      expect(refused.status).toBe(403);
      expect(refused.body).toContain('only for replicas that \\"ecom up\\" started');
      expect((JSON.parse((await call(bare.port, '/api/state')).body) as State).controls.enabled).toBe(false);
    } finally {
      await bare.close();
    }
  });

  it('ecom dashboard serves a cluster started elsewhere, without controls, and stops on SIGINT', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const lines: string[] = [];
    const child = spawnEcom(['dashboard', '--storage-config', cluster.tier.configFile, '--port', String(port)], { name: 'dashboard', onLine: (_n, line) => lines.push(line) });
    try {
      await waitForPort('127.0.0.1', port, 30_000, child);
      const state = await stateWhere(port, settled, 10_000);
      expect(state.view?.partitions.flatMap((p) => p.replicas).every((r) => r.process === undefined)).toBe(true);
      expect(state.controls).toEqual({ enabled: false, why: expect.stringContaining('only for replicas that "ecom up" started') as string });
      expect(lines.join('\n')).toContain(`Dashboard: http://127.0.0.1:${port}/`);
      child.process.kill('SIGINT');
      expect(await child.exited).toBe(0);
    } finally {
      await child.kill();
    }
  });

  it('a taken port is a clear error', async () => {
    const port = await freePort();
    const holder = createServer().listen(port, '127.0.0.1');
    await new Promise((r) => holder.once('listening', r));
    try {
      await expect(serveDashboard({ topology: cluster.topology, host: '127.0.0.1', port, log: silentLogger })).rejects.toThrow(`port ${port} on 127.0.0.1 is taken by another program`);
    } finally {
      holder.close();
    }
  });
});
