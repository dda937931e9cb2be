import { PortalClient } from '../../src/client/portal-client.js';
import type { Lang } from '../../src/domain/messages.js';
import { SingleBackend } from '../../src/modes/single/backend.js';
import { startPortalServer, type PortalServer } from '../../src/portal/server.js';
import { silentLogger } from '../../src/util/log.js';

/** A single-mode portal server on a free loopback port, in this process. */
export async function startSinglePortal(lang: Lang = 'pt'): Promise<{ server: PortalServer; client: PortalClient; port: number; stop(): Promise<void> }> {
  const server = await startPortalServer({ backend: new SingleBackend(), lang, log: silentLogger, host: '127.0.0.1', ports: [0] });
  const port = server.ports[0]!;
  const client = new PortalClient({ host: '127.0.0.1', port });
  return {
    server,
    client,
    port,
    async stop() {
      client.close();
      await server.shutdown();
    },
  };
}
