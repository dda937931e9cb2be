import { SingleBackend } from '../../src/modes/single/backend.js';
import { defineContractSuite, portalTarget } from './suite.js';

// docs/spec.md: R-MODE-3
defineContractSuite('single mode', () => portalTarget(new SingleBackend()));
