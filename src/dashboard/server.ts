import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { guarded, requestPath, shownTarget } from '../util/http-guard.js';
import { hostAllowed, isLoopback } from '../util/loopback.js';
import type { Logger } from '../util/log.js';
import type { ReplicaControls } from './controls.js';
import type { ClusterFeed, FeedUpdate } from './feed.js';
import { handleControl } from './control-route.js';
import { reply } from './http-reply.js';

/**
 * The dashboard's HTTP server (node:http, no framework: five routes): the page and its script,
 * the cluster's state as JSON, the same pushed as Server-Sent Events, and the process
 * controls. Everything the page needs is served from here, so it works offline.
 */
export interface DashboardOptions {
  readonly host: string;
  /** 0 picks a free one (tests); the chosen one is in the result. */
  readonly port: number;
  readonly feed: ClusterFeed;
  /** Only `ecom up` has them: it started the replicas. */
  readonly controls?: ReplicaControls;
  readonly log: Logger;
  /** Serves GET /metrics from this (Prometheus text); absent, /metrics is a 404 like any unknown path. */
  readonly metrics?: () => Promise<string>;
}

export interface Dashboard {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Pages open at once; one more is refused rather than letting a leaking client hold the server. */
export const MAX_STREAMS = 32;
/** A stream whose client reads slower than this backlog is closed (the browser reconnects and starts fresh). */
const MAX_STREAM_BACKLOG_BYTES = 1 << 20;

const PAGE_DIR = new URL('../../src/dashboard/page/', import.meta.url);
const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};


/** Why controls are off, or undefined when they are on; the page shows it. */
function controlsRefusal(options: DashboardOptions): string | undefined {
  if (options.controls === undefined) return 'Controls exist only for replicas that "ecom up" started; this cluster was started elsewhere.';
  if (!isLoopback(options.host)) return `Controls exist only when the dashboard listens on loopback; it listens on ${options.host}.`;
  return undefined;
}

/** The page's note on working controls, and whether its cut and heal buttons work. */
function controlsOn(controls: ReplicaControls): { enabled: true; why: string; links: { enabled: boolean; why: string } } {
  const why = 'Controls act on the processes "ecom up" started and on their Raft links, and exist only because this page is served on loopback (this machine).';
  const links = controls.linksRefusal === undefined ? { enabled: true, why: 'cut drops every Raft message to and from the replica; heal lets them pass again' } : { enabled: false, why: controls.linksRefusal };
  return { enabled: true, why, links };
}

export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const assets = new Map(Object.entries(ASSETS).map(([path, a]) => [path, { body: readFileSync(new URL(a.file, PAGE_DIR)), type: a.type }]));
  const streams = new Set<ServerResponse>();
  const refusal = controlsRefusal(options);
  const controls = refusal === undefined ? options.controls : undefined;
  const state = () => ({
    view: options.feed.view,
    portals: options.feed.portals?.view,
    events: options.feed.timeline.recent(),
    controls: controls === undefined ? { enabled: false, why: refusal ?? 'no controls' } : controlsOn(controls),
  });
  const server = createServer(guarded('dashboard', options.log, (req, res) => {
    res.setHeader('cache-control', 'no-store');
    res.setHeader('x-content-type-options', 'nosniff');
    if (!hostAllowed(req, options.host)) return reply(res, 403, { error: `refused Host "${req.headers.host}": open the dashboard at its own address (${options.host})` });
    const path = requestPath(req);
    if (path === undefined) return reply(res, 400, { error: `${shownTarget(req)} is not a path here: the page is at /, its data at /api/state and /api/stream` });
    if (req.method === 'POST' && path.startsWith('/api/replicas/')) return handleControl(req, res, path, controls, refusal, options.feed);
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, { error: `${req.method} is not served here; the dashboard answers GET, and POST on /api/replicas/ID/ACTION` });
    const asset = assets.get(path);
    if (asset !== undefined) return void res.writeHead(200, { 'content-type': asset.type }).end(asset.body);
    if (path === '/api/state') return reply(res, 200, state());
    // HEAD asks only whether the stream exists: answering it with an open stream would hold a slot for nothing.
    if (path === '/api/stream') return req.method === 'HEAD' ? void res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' }).end() : openStream(req, res, streams, state());
    if (path === '/metrics' && options.metrics !== undefined) return serveMetrics(res, options.metrics, options.log);
    reply(res, 404, { error: `nothing at ${path}: the page is at /, its data at /api/state and /api/stream` });
  }));
  const unsubscribe = options.feed.subscribe((update) => broadcast(streams, update));
  const port = await listen(server, options.host, options.port);
  const url = `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}/`;
  return {
    url,
    port,
    close: async () => {
      unsubscribe();
      for (const stream of streams) stream.end();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}


function openStream(req: IncomingMessage, res: ServerResponse, streams: Set<ServerResponse>, first: unknown): void {
  if (streams.size >= MAX_STREAMS) return reply(res, 503, { error: `${MAX_STREAMS} dashboard pages are open already; close one and reload` });
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive' });
  res.write(`retry: 1000\nevent: state\ndata: ${JSON.stringify(first)}\n\n`);
  streams.add(res);
  req.on('close', () => streams.delete(res));
}

/** The union of the processes' metrics, scraped when asked (Prometheus scrapes at its own pace). */
function serveMetrics(res: ServerResponse, metrics: () => Promise<string>, log: Logger): void {
  metrics().then(
    (text) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(text),
    (err: unknown) => {
      log.warn({ err: (err as Error).message }, 'dashboard: collecting the metrics failed');
      reply(res, 500, { error: `collecting the metrics failed: ${(err as Error).message}` });
    },
  );
}

function broadcast(streams: Set<ServerResponse>, update: FeedUpdate): void {
  const message = `event: update\ndata: ${JSON.stringify(update)}\n\n`;
  for (const stream of streams) {
    if (stream.writableLength > MAX_STREAM_BACKLOG_BYTES) {
      streams.delete(stream);
      stream.destroy();
      continue;
    }
    stream.write(message);
  }
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'EADDRINUSE' ? `port ${port} on ${host} is taken by another program` : err.message;
      reject(new Error(`the dashboard cannot listen: ${why}`, { cause: err }));
    });
    server.listen(port, host, () => {
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : port);
    });
  });
}
