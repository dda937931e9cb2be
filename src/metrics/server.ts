import { createServer, type Server } from 'node:http';
import type { Logger } from '../util/log.js';
import { guarded, requestPath, shownTarget } from '../util/http-guard.js';
import { hostAllowed } from '../util/loopback.js';
import type { MetricsRegistry } from './registry.js';

/**
 * `GET /metrics` in the Prometheus text format, on a tiny node:http server of its own (one
 * route does not need a framework). Loopback by default: the metrics tell an observer the
 * cluster's shape and load, so they are exposed further only when asked (`--metrics-host`).
 */
export interface MetricsServerOptions {
  readonly registry: MetricsRegistry;
  readonly host: string;
  /** 0 picks a free one (tests); the bound one is in the result. */
  readonly port: number;
  readonly log: Logger;
}

export interface MetricsServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const { registry } = options;
  const server = createServer(guarded('metrics server', options.log, (req, res) => {
    // Its refusals quote what the request sent: no browser may read them as anything but text.
    res.setHeader('x-content-type-options', 'nosniff');
    if (!hostAllowed(req, options.host)) {
      res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8' }).end(`refused Host "${req.headers.host}": scrape this server at its own loopback address (${options.host})\n`);
      return;
    }
    const path = requestPath(req);
    if (path === undefined) {
      res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' }).end(`${shownTarget(req)} is not a path here: the metrics are at /metrics\n`);
      return;
    }
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end(`nothing at ${path}: the metrics are at /metrics\n`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'text/plain; charset=utf-8', allow: 'GET, HEAD' }).end(`${req.method} is not served here; scrape /metrics with GET\n`);
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: unknown) => {
        options.log.warn({ err: (err as Error).message }, 'collecting the metrics failed');
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`collecting the metrics failed: ${(err as Error).message}\n`);
      },
    );
  }));
  const port = await listen(server, options.host, options.port);
  const url = `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}/metrics`;
  return {
    url,
    port,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'EADDRINUSE' ? `port ${port} on ${host} is taken by another program; choose another with --metrics-port N (0 turns metrics off)` : err.message;
      reject(new Error(`the metrics server cannot listen: ${why}`, { cause: err }));
    });
    server.listen(port, host, () => {
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : port);
    });
  });
}
