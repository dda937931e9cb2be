import type { WantedPort } from '../util/ports.js';

/** The AdminPortal's and OrderPortal's ports of `ecom up` in a mode that runs one of each, for claimPorts. */
export function portalPortsWanted(host: string, options: { readonly adminPort: number; readonly orderPort: number }): WantedPort[] {
  return [
    { host, port: options.adminPort, what: 'the AdminPortal', option: '--admin-port' },
    { host, port: options.orderPort, what: 'the OrderPortal', option: '--order-port' },
  ];
}
