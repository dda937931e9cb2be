import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { HealthImplementation, protoPath as healthProtoPath } from 'grpc-health-check';
import type { Lang } from '../domain/messages.js';
import type { Logger } from '../util/log.js';
import type { Backend } from '../domain/backend.js';
import { adminPortalHandlers, orderPortalHandlers, type PortalContext } from './handlers.js';
import { apiPackageDefinition, LOADER_OPTIONS, PORTAL_SERVICES } from './proto.js';
import { addReflection } from './reflection.js';
import type { PortalMetrics } from '../metrics/portal-metrics.js';
import { metricsInterceptor } from './metrics-interceptor.js';
import { NO_SECURITY, type PortalSecurity } from './security.js';
import { requireToken, serverCredentials } from './server-security.js';

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

function serviceDefinition(definition: protoLoader.PackageDefinition, name: string): grpc.ServiceDefinition {
  const service = definition[name];
  if (service === undefined || !('CreateClient' in service || 'CreateOrder' in service)) {
    throw new Error(`proto/api.proto has no service ${name}`);
  }
  return service as grpc.ServiceDefinition;
}

function bind(server: grpc.Server, host: string, port: number, credentials: grpc.ServerCredentials): Promise<number> {
  const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return new Promise((resolve, reject) => {
    server.bindAsync(address, credentials, (err, bound) => {
      if (err) {
        const hint = /EADDRINUSE|address already in use/i.test(err.message)
          ? ` (port ${port} is in use: stop what runs there or choose another port)`
          : '';
        reject(new Error(`cannot listen on ${address}: ${err.message}${hint}`));
      } else resolve(bound);
    });
  });
}

/**
 * A gRPC server with the portals, the standard health service (grpc.health.v1) and server
 * reflection, so generic tools such as grpcurl can list and call every method.
 */
export async function startPortalServer(options: PortalServerOptions): Promise<PortalServer> {
  const roles = options.roles ?? ['admin', 'order'];
  const definition = apiPackageDefinition();
  // channelz (grpc-js's per-call introspection, which nothing here reads) cost about a fifth of
  // a portal's CPU per call: 42 against 33-36 µs per CreateClient in single mode, 64 in flight.
  const serverOptions = { 'grpc.enable_channelz': 0, ...(options.metrics === undefined ? {} : { interceptors: [metricsInterceptor(options.metrics)] }) };
  const server = new grpc.Server(serverOptions);
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
    const credentials = serverCredentials(options.security ?? NO_SECURITY);
    for (const port of options.ports) ports.push(await bind(server, options.host, port, credentials));
  } catch (err) {
    server.forceShutdown();
    throw err;
  }

  let stopping: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    stopping ??= new Promise<void>((resolve) => {
      for (const name of ['', ...served]) health.setStatus(name, 'NOT_SERVING');
      const timer = setTimeout(() => server.forceShutdown(), options.shutdownGrace_ms ?? 5_000);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    return stopping;
  };
  return { ports, shutdown };
}
