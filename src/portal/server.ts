import * as protoLoader from '@grpc/proto-loader';
import { HealthImplementation, protoPath as healthProtoPath } from 'grpc-health-check';
import type { Lang } from '../domain/messages.js';
import type { Logger } from '../util/log.js';
import type { Backend } from '../domain/backend.js';
import { GrpcServer, type GrpcMethod } from '../net/grpc/server.js';
import { adminPortalHandlers, orderPortalHandlers, type PortalContext } from './handlers.js';
import { apiPackageDefinition, LOADER_OPTIONS, PORTAL_SERVICES } from './proto.js';
import { addReflection } from './reflection.js';
import type { PortalMetrics } from '../metrics/portal-metrics.js';
import { metricsObserver } from './metrics-observer.js';
import type { PortalSecurity } from './security.js';
import { requireToken } from './server-security.js';

export type PortalRole = 'admin' | 'order';

export interface PortalServerOptions {
  readonly backend: Backend;
  readonly lang: Lang;
  readonly log: Logger;
  /** Which portals to serve; both by default (one port can answer AdminPortal and OrderPortal). */
  readonly roles?: readonly PortalRole[];
  readonly host: string;
  /** Ports to listen on; 0 picks a free one. */
  readonly ports: readonly number[];
  /** How long shutdown waits for calls in flight before cutting them. */
  readonly shutdownGrace_ms?: number;
  /** TLS and AdminPortal's token; neither by default, like the original. */
  readonly security?: PortalSecurity;
  /** Count and time every RPC (`--metrics-port`); none by default. */
  readonly metrics?: PortalMetrics;
}

export interface PortalServer {
  /** The ports actually bound, in the order asked. */
  readonly ports: readonly number[];
  /** Stops accepting calls, lets calls in flight finish (up to the grace period), then closes. */
  shutdown(): Promise<void>;
}

function serviceDefinition(definition: protoLoader.PackageDefinition, name: string): Record<string, GrpcMethod> {
  const service = definition[name];
  if (service === undefined || !('CreateClient' in service || 'CreateOrder' in service)) {
    throw new Error(`proto/api.proto has no service ${name}`);
  }
  return service as unknown as Record<string, GrpcMethod>;
}

/**
 * A gRPC server with the portals, the standard health service (grpc.health.v1) and server
 * reflection, so generic tools such as grpcurl can list and call every method.
 */
export async function startPortalServer(options: PortalServerOptions): Promise<PortalServer> {
  const roles = options.roles ?? ['admin', 'order'];
  const definition = apiPackageDefinition();
  const tls = options.security?.tls;
  const server = new GrpcServer({ log: options.log, ...(tls === undefined ? {} : { tls }), ...(options.metrics === undefined ? {} : { observer: metricsObserver(options.metrics) }) });
  const ctx: PortalContext = { backend: options.backend, lang: options.lang, log: options.log };

  const served: string[] = [];
  for (const role of roles) {
    const token = options.security?.adminToken;
    const handlers = role === 'admin' ? (token === undefined ? adminPortalHandlers(ctx) : requireToken(adminPortalHandlers(ctx), token)) : orderPortalHandlers(ctx);
    for (const name of PORTAL_SERVICES[role]) {
      server.addService(serviceDefinition(definition, name), handlers);
      served.push(name);
    }
  }

  const healthStatus: Record<string, 'SERVING'> = { '': 'SERVING' };
  for (const name of served) healthStatus[name] = 'SERVING';
  const health = new HealthImplementation(healthStatus);
  health.addToServer(server);
  const healthDefinition = protoLoader.loadSync(healthProtoPath, LOADER_OPTIONS);
  addReflection(server, { ...definition, ...healthDefinition });

  const ports: number[] = [];
  try {
    for (const port of options.ports) ports.push(await server.listen(options.host, port));
  } catch (err) {
    await server.shutdown(0);
    throw err;
  }

  let stopping: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    if (stopping === undefined) {
      for (const name of ['', ...served]) health.setStatus(name, 'NOT_SERVING');
      stopping = server.shutdown(options.shutdownGrace_ms ?? 5_000);
    }
    return stopping;
  };
  return { ports, shutdown };
}
