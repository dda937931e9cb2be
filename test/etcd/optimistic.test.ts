import { describe, expect, it } from 'vitest';
import type { Command } from '../../src/domain/commands.js';
import { render } from '../../src/domain/messages.js';
import { keyString, type RecordKey } from '../../src/domain/records.js';
import { executeOptimistically } from '../../src/modes/etcd/optimistic.js';
import {
  classifyFailure,
  CommitOutcomeUnknownError,
  EtcdRefusedError,
  EtcdUnavailableError,
  type EtcdStore,
  type ReadResult,
} from '../../src/modes/etcd/store.js';

/**
 * How the optimistic loop turns each kind of etcd failure into a reply. etcd cannot be made to
 * lose a commit's answer on demand, so these cases run against a scripted store; the real
 * cluster tests cover the paths etcd can be driven into.
 */
function scriptedStore(script: { commit: () => Promise<boolean>; read?: () => Promise<void> }) {
  const calls = { reads: 0, commits: 0 };
  const store = {
    async read(keys: readonly RecordKey[]): Promise<ReadResult> {
      calls.reads++;
      await script.read?.();
      return { revision: '7', values: new Map(keys.map((k) => [keyString(k), { record: undefined, modRevision: '0' }])) };
    },
    async commit(): Promise<boolean> {
      calls.commits++;
      return script.commit();
    },
  };
  return { store: store as unknown as EtcdStore, calls };
}

const create: Command = { op: 'CreateClient', cid: '1', data: '{"name": "Ana"}' };
const options = { max_attempts: 4, timeout_ms: 5_000 };

describe('etcd optimistic writes', () => {
  it('answers "may have been applied" and never retries when a commit\'s answer is lost', async () => {
    const { store, calls } = scriptedStore({ commit: () => Promise.reject(new CommitOutcomeUnknownError('lost')) });
    const reply = await executeOptimistically(store, create, options);
    expect(reply.code).toBe(503);
    expect(reply.code === 503 && render(reply.message, 'en')).toContain('may have been applied');
    expect(calls.commits).toBe(1);
  });

  it('re-reads and re-runs on conflict, then gives up with "nothing was changed" after max_attempts', async () => {
    const { store, calls } = scriptedStore({ commit: () => Promise.resolve(false) });
    const reply = await executeOptimistically(store, create, options);
    expect(reply.code === 503 && render(reply.message, 'en')).toContain('nothing was changed');
    expect(calls.commits).toBe(4);
    expect(calls.reads).toBe(4);
  });

  it('succeeds on a later attempt after conflicts', async () => {
    let left = 2;
    const { store, calls } = scriptedStore({ commit: () => Promise.resolve(left-- <= 0) });
    expect(await executeOptimistically(store, create, options)).toEqual({ code: 0 });
    expect(calls.commits).toBe(3);
  });

  it('answers "nothing was changed" when reads fail, and 500 with the reason when etcd refuses the transaction', async () => {
    const down = scriptedStore({ commit: () => Promise.resolve(true), read: () => Promise.reject(new EtcdUnavailableError('down')) });
    const reply = await executeOptimistically(down.store, create, options);
    expect(reply.code === 503 && render(reply.message, 'en')).toContain('nothing was changed');
    expect(down.calls.commits).toBe(0);
    const refused = scriptedStore({ commit: () => Promise.reject(new EtcdRefusedError('too many operations; raise --max-txn-ops')) });
    const answer = await executeOptimistically(refused.store, create, options);
    expect(answer.code === 500 && render(answer.message, 'en')).toContain('--max-txn-ops');
  });

  it('does not commit a rejected command', async () => {
    const { store, calls } = scriptedStore({ commit: () => Promise.resolve(true) });
    const reply = await executeOptimistically(store, { op: 'UpdateClient', cid: '1', data: '{"name": "Bia"}' }, options);
    expect(reply).toMatchObject({ code: 404 });
    expect(calls.commits).toBe(0);
  });

  it('sorts etcd failures by whether a write may have reached etcd', () => {
    expect(classifyFailure(new Error('14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 127.0.0.1:2379'))).toBe('not-sent');
    expect(classifyFailure(Object.assign(new Error('Breaker is open'), { name: 'BrokenCircuitError' }))).toBe('not-sent');
    expect(classifyFailure(new Error('4 DEADLINE_EXCEEDED: Deadline exceeded'))).toBe('unknown');
    expect(classifyFailure(new Error('14 UNAVAILABLE: Connection dropped'))).toBe('unknown');
    expect(classifyFailure(new Error('etcdserver: leader changed'))).toBe('unknown');
    expect(classifyFailure(new Error('etcdserver: request timed out'))).toBe('unknown');
    expect(classifyFailure(new Error('etcdserver: too many operations in txn request'))).toBe('refused');
    expect(classifyFailure(new Error('mvcc: required revision has been compacted'))).toBe('compacted');
  });
});
