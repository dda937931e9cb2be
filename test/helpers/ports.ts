export { freePort, freePortSeries } from '../../src/util/ports.js';
import { freePortSeries } from '../../src/util/ports.js';

/** `ecom up --mode mqtt` runs its second AdminPortal and OrderPortal 10 above the ports it is given: those must be free too. */
export const mqttPortalPorts = () => freePortSeries(2, 10);
