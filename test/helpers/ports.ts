import { createServer, type Server } from 'node:net';
export { freePort, freePortSeries } from '../../src/util/ports.js';
import { freePortSeries } from '../../src/util/ports.js';

/** `ecom up --mode mqtt` runs its second AdminPortal and OrderPortal 10 above the ports it is given: those must be free too. */
export const mqttPortalPorts = () => freePortSeries(2, 10);

/** A server listening on 127.0.0.1:port, standing in for another program that holds the port. */
export function listenOn(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}
