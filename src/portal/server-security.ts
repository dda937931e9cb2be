import { timingSafeEqual } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { PortalSecurity } from './security.js';

/**
 * The portal server's side of its protection (security.ts reads the options): the TLS
 * credentials and AdminPortal's token check. Apart from the options so that a process that
 * only passes them on, as `ecom up` does to its portals, does not load grpc-js.
 */
export function serverCredentials(security: PortalSecurity): grpc.ServerCredentials {
  if (security.tls === undefined) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(null, [{ cert_chain: security.tls.cert, private_key: security.tls.key }], false);
}

const BEARER = /^Bearer (\S+)$/;

function holdsToken(metadata: grpc.Metadata, token: string): boolean {
  const [value] = metadata.get('authorization');
  const presented = typeof value === 'string' ? BEARER.exec(value)?.[1] : undefined;
  if (presented === undefined) return false;
  const [a, b] = [Buffer.from(presented), Buffer.from(token)];
  return a.length === b.length && timingSafeEqual(a, b);
}

/** AdminPortal's unary handlers, each answering UNAUTHENTICATED unless the call carries the token. */
export function requireToken(handlers: grpc.UntypedServiceImplementation, token: string): grpc.UntypedServiceImplementation {
  const guarded: grpc.UntypedServiceImplementation = {};
  for (const [name, handler] of Object.entries(handlers)) {
    guarded[name] = ((call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      if (!holdsToken(call.metadata, token)) {
        callback({ code: grpc.status.UNAUTHENTICATED, details: 'AdminPortal requires its token: send "authorization: Bearer <token>" metadata (ecom admin --token FILE)' });
        return;
      }
      (handler as grpc.handleUnaryCall<unknown, unknown>)(call, callback);
    }) as grpc.handleUnaryCall<unknown, unknown>;
  }
  return guarded;
}
