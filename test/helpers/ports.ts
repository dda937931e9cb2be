export { freePort } from '../../src/util/ports.js';
