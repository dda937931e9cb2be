import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from './log.js';

/**
 * What ecom's small HTTP servers (the dashboard, every process's metrics) need so that no
 * request can stop the process that serves them: `ecom up` itself for the dashboard, a replica
 * or a portal for its metrics.
 */

/**
 * The path a request asks for, or undefined when its target is none. Node's parser lets
 * targets through that are not paths ("//", "///", "/\\", "//@"), and resolving them against a
 * base throws: a single `GET //` stopped `ecom up` with the whole system under it.
 */
export function requestPath(req: IncomingMessage): string | undefined {
  const target = req.url ?? '/';
  if (!URL.canParse(target, 'http://request')) return undefined;
  return new URL(target, 'http://request').pathname;
}

/** A request's target as a reply quotes it: at most 200 characters, in JSON quotes. */
export function shownTarget(req: IncomingMessage): string {
  const target = req.url ?? '';
  return JSON.stringify(target.length > 200 ? `${target.slice(0, 200)}…` : target);
}

/**
 * A request handler that cannot take its process down: what it throws, or rejects with, is
 * logged with its stack as the bug it is, and the request answered 500 (or its connection
 * closed, if the answer had begun).
 */
export function guarded(server: string, log: Logger, handle: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const failed = (err: unknown) => {
      log.error({ err, method: req.method, target: shownTarget(req) }, `the ${server} failed on a request; it goes on serving`);
      if (res.headersSent) res.destroy();
      else res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`the ${server} failed on this request: ${err instanceof Error ? err.message : String(err)}\n`);
    };
    try {
      const pending = handle(req, res);
      if (pending !== undefined) pending.catch(failed);
    } catch (err) {
      failed(err);
    }
  };
}
