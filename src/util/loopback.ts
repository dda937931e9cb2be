import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';

/** Whether an address or name is this machine's loopback. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

/**
 * For an HTTP server bound to loopback: answers only requests addressed to it by a loopback
 * name, so a page of another site that rebinds its DNS name to 127.0.0.1 cannot read it.
 */
export function hostAllowed(req: IncomingMessage, boundHost: string): boolean {
  if (!isLoopback(boundHost)) return true;
  const name = (req.headers.host ?? '').replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
  return isLoopback(name);
}
