import { startSinglePortal } from '../portal/fixture.js';
import { defineContractSuite } from './suite.js';

defineContractSuite('single mode', async () => {
  const portal = await startSinglePortal();
  return { admin: portal.client, order: portal.client, stop: () => portal.stop() };
});
