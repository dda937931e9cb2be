import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';

/**
 * An embedded MQTT broker (aedes) on a free loopback port, for tests; or on `port`, to start it
 * again where its clients reconnect after a stop.
 */
export async function startTestBroker(listenPort = 0): Promise<{ url: string; port: number; stop(): Promise<void> }> {
  const broker = await Aedes.createBroker();
  const server: Server = createServer(broker.handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenPort, '127.0.0.1', resolve);
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close();
        broker.close(() => resolve());
      }),
  };
}
