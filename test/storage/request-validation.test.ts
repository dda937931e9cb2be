import { describe, expect, it } from 'vitest';
import { partitionOpProblem, requestProblem } from '../../src/storage/common/validate.js';

const exec = (client: string) => ({ t: 'exec', session: { client, seq: 5 }, command: { op: 'CreateClient', cid: '2', data: '{"name": "Ana"}' } });

describe('requests to a replica: session names', () => {
  it('refuses a proposed session client with "/", whose record would sit among another session\'s results', () => {
    const problem = requestProblem({ op: 'propose', partition: 0, entry: exec('a/0000000000000005') }, 0, 2);
    expect(problem).toMatch(/session client must not contain "\/"/);
    expect(requestProblem({ op: 'propose', partition: 0, entry: exec('6f1c2e4a-9b7d-4c3e-8f21-0a5b6c7d8e9f') }, 0, 2)).toBeUndefined();
  });

  it('still applies such an entry already in a log (an older build accepted it), as every replica did', () => {
    expect(partitionOpProblem(exec('a/0000000000000005'), 0, 2)).toBeUndefined();
  });
});
