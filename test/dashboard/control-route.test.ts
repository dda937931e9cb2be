import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handleControl } from '../../src/dashboard/control-route.js';
import type { ControlAction, ReplicaControls } from '../../src/dashboard/controls.js';
import { ClusterFeed } from '../../src/dashboard/feed.js';
import { ensureClusterSecret } from '../../src/net/cluster-secret.js';
import { defaultTopology } from '../../src/storage/common/topology.js';

/**
 * POST /api/replicas/ID/ACTION on its own, in front of controls that only record what they are
 * asked (the real ones, on real processes, are in http.test.ts and links.test.ts): which requests
 * reach them, and how every refusal reads.
 */

interface Setup {
  controls: ReplicaControls | undefined;
  refusal: string | undefined;
}

const asked: Array<[number, ControlAction]> = [];
const setup: Setup = { controls: undefined, refusal: undefined };
let server: Server;
let port = 0;
let feed: ClusterFeed;
const dir = mkdtempSync(join(tmpdir(), 'ecom-control-route-'));

function recording(linksRefusal?: string): ReplicaControls {
  return {
    replicas: [1, 2, 3],
    ...(linksRefusal === undefined ? {} : { linksRefusal }),
    process: () => ({ pid: 1, running: true, paused: false, cut: false }),
    act(id, action) {
      asked.push([id, action]);
      if (action === 'heal') return Promise.reject(new Error(`replica ${id}'s links are not cut; cut it first`));
      return Promise.resolve(`${action} done to replica ${id}`);
    },
    onProcessEvent: () => () => undefined,
  };
}

/** `origin` null sends none (as a non-browser client would). */
function post(path: string, origin: string | null = `http://127.0.0.1:${port}`): Promise<{ status: number; body: { error?: string; text?: string; event?: { text: string } } }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', headers: origin === null ? {} : { origin } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(body) as { error?: string } }));
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  const secretFile = join(dir, 'secret');
  ensureClusterSecret(secretFile);
  feed = new ClusterFeed({ ...defaultTopology(), secretFile });
  server = createServer((req, res) => void handleControl(req, res, new URL(req.url ?? '/', 'http://x').pathname, setup.controls, setup.refusal, feed));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  port = typeof address === 'object' && address !== null ? address.port : 0;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await feed.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('the control route', () => {
  it('refuses every action, cut and heal too, when the controls are off, saying why', async () => {
    Object.assign(setup, { controls: undefined, refusal: 'Controls exist only when the dashboard listens on loopback; it listens on 0.0.0.0.' });
    for (const action of ['cut', 'heal', 'kill']) {
      const refused = await post(`/api/replicas/1/${action}`);
      expect(refused.status).toBe(403);
      expect(refused.body.error).toBe('refused: Controls exist only when the dashboard listens on loopback; it listens on 0.0.0.0.');
    }
    expect(asked).toEqual([]);
  });

  it('refuses a page that is not its own before anything else', async () => {
    Object.assign(setup, { controls: recording(), refusal: undefined });
    expect((await post('/api/replicas/1/cut', null)).body.error).toContain('Origin missing');
    const foreign = await post('/api/replicas/1/cut', 'http://evil.example');
    expect(foreign.status).toBe(403);
    expect(foreign.body.error).toContain(`Origin http://evil.example is not http://127.0.0.1:${port}`);
    expect(asked).toEqual([]);
  });

  it('refuses a replica it does not own and an action it does not know, naming the choices', async () => {
    Object.assign(setup, { controls: recording(), refusal: undefined });
    for (const id of ['4', '0', 'x', '1e3', '99999999']) {
      const refused = await post(`/api/replicas/${id}/cut`);
      expect(refused.status, id).toBe(404);
      expect(refused.body.error).toBe(`no replica "${id}" here: the replicas "ecom up" started are 1, 2, 3`);
    }
    const unknown = await post('/api/replicas/1/isolate');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toBe('no action "isolate": choose kill, pause, resume, restart, cut, heal');
    expect(asked).toEqual([]);
  });

  it('refuses cut and heal, and only those, when the owner has no link proxies', async () => {
    Object.assign(setup, { controls: recording('ecom up runs with --no-link-proxies'), refusal: undefined });
    for (const action of ['cut', 'heal']) {
      const refused = await post(`/api/replicas/2/${action}`);
      expect(refused.status).toBe(403);
      expect(refused.body.error).toBe('refused: ecom up runs with --no-link-proxies');
    }
    expect(asked).toEqual([]);
    expect((await post('/api/replicas/2/kill')).status).toBe(200);
    expect(asked.splice(0)).toEqual([[2, 'kill']]);
  });

  it('passes what the controls refuse on as a conflict, and records what they did in the timeline', async () => {
    Object.assign(setup, { controls: recording(), refusal: undefined });
    const refused = await post('/api/replicas/3/heal');
    expect(refused.status).toBe(409);
    expect(refused.body.error).toBe("replica 3's links are not cut; cut it first");
    const done = await post('/api/replicas/3/cut');
    expect(done.status).toBe(200);
    expect(done.body.event?.text).toBe('you: cut done to replica 3');
    expect(feed.timeline.recent().map((e) => e.text).at(-1), 'the newest event, after the kill of the test before').toBe('you: cut done to replica 3');
    expect(feed.timeline.recent().some((e) => e.text.includes('heal')), 'a refused action leaves no event').toBe(false);
    expect(asked.splice(0)).toEqual([[3, 'heal'], [3, 'cut']]);
  });
});
