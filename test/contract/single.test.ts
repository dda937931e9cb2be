import { SingleBackend } from '../../src/modes/single/backend.js';
import { defineContractSuite, portalTarget } from './suite.js';

defineContractSuite('single mode', () => portalTarget(new SingleBackend()));
