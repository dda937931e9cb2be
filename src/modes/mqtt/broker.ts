import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import { timingSafeEqual } from 'node:crypto';
import type { BrokerCredentials } from '../../net/cluster-secret.js';
import type { Logger } from '../../util/log.js';

function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export interface EmbeddedBroker {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Bounds that keep the embedded broker healthy under bursts of writes. */
const BROKER_LIMITS = {
  /** QoS 1/2 messages a client may have in flight towards the broker. */
  maxInflightInbound: 1000,
  /** Packets waiting while a client's connection is being set up. */
  queueLimit: 1000,
  connectTimeout_ms: 10_000,
} as const;

/**
 * The embedded MQTT 3.1.1 broker (aedes, in memory). It keeps no messages across a restart,
 * which mqtt mode tolerates: portals that reconnect resynchronise from each other.
 */
export async function startBroker(options: { host: string; port: number; log: Logger; credentials?: BrokerCredentials }): Promise<EmbeddedBroker> {
  const { credentials } = options;
  const broker = await Aedes.createBroker({
    maxInflightInbound: BROKER_LIMITS.maxInflightInbound,
    queueLimit: BROKER_LIMITS.queueLimit,
    connectTimeout: BROKER_LIMITS.connectTimeout_ms,
    // With the cluster's credentials, anyone else is refused at CONNECT (return code 4).
    ...(credentials === undefined
      ? {}
      : {
          authenticate: (client, username, password, done) => {
            const ok = username === credentials.username && password !== undefined && sameBytes(password, Buffer.from(credentials.password));
            if (!ok) options.log.warn({ client: client.id }, 'refused an MQTT client without the cluster\'s credentials');
            done(null, ok);
          },
        }),
  });
  broker.on('clientError', (client, err) => options.log.debug({ client: client.id, err: err.message }, 'client error'));
  const server: Server = createServer((socket) => {
    // Small packets, each awaited by someone: Nagle's algorithm would add ~40 ms per hop.
    socket.setNoDelay(true);
    broker.handle(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      const hint = err.code === 'EADDRINUSE' ? ` (port ${options.port} is in use: stop what runs there or pass --port)` : '';
      reject(new Error(`the MQTT broker cannot listen on ${options.host}:${options.port}: ${err.message}${hint}`));
    });
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  return {
    host: options.host,
    port,
    close: async () => {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
