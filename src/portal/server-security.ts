import { timingSafeEqual } from 'node:crypto';
import type { RequestMetadata, UnaryCall, UnaryCallback } from '../net/grpc/calls.js';
import { STATUS } from '../net/grpc/status.js';
import type { PortalHandlers } from './handlers.js';

/**
 * AdminPortal's token check, the server's side of its protection (security.ts reads the options;
 * the TLS certificate goes to the gRPC server as it is). Apart from the options so that a process
 * that only passes them on, as `ecom up` does to its portals, does not load the server.
 */
const BEARER = /^Bearer (\S+)$/;

function holdsToken(metadata: RequestMetadata, token: string): boolean {
  const [value] = metadata.get('authorization');
  const presented = typeof value === 'string' ? BEARER.exec(value)?.[1] : undefined;
  if (presented === undefined) return false;
  const [a, b] = [Buffer.from(presented), Buffer.from(token)];
  return a.length === b.length && timingSafeEqual(a, b);
}

/** AdminPortal's unary handlers, each answering UNAUTHENTICATED unless the call carries the token. */
export function requireToken(handlers: PortalHandlers, token: string): PortalHandlers {
  const guarded: PortalHandlers = {};
  for (const [name, handler] of Object.entries(handlers)) {
    guarded[name] = (call: UnaryCall<never>, callback: UnaryCallback<unknown>) => {
      if (!holdsToken(call.metadata, token)) {
        callback({ code: STATUS.unauthenticated, details: 'AdminPortal requires its token: send "authorization: Bearer <token>" metadata (ecom admin --token FILE)' });
        return;
      }
      (handler as (call: UnaryCall<never>, callback: UnaryCallback<unknown>) => void)(call, callback);
    };
  }
  return guarded;
}
