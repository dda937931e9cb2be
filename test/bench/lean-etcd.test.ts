import fc from 'fast-check';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { Etcd3 } from 'etcd3';
import { LeanEtcdPuts, PUT_PATH, putRequest } from '../../src/bench/lean-etcd.js';
import { PortalCallError } from '../../src/client/portal-calls.js';
import { testSeed } from '../helpers/seed.js';
import { etcdMissing, freshPrefix, startTestCluster } from '../etcd/helpers.js';

/**
 * The bench's hand-encoded etcd put (src/bench/lean-etcd.ts) against etcd's own rpc.proto, as
 * the etcd3 client ships it and protobufjs reads it: the same bytes for any key and value, and
 * the method path etcd serves.
 */
const etcd3Dir = dirname(createRequire(import.meta.url).resolve('etcd3/package.json'));
const root = new protobuf.Root();
root.resolvePath = (_origin, target) => (target.startsWith('/') ? target : join(etcd3Dir, 'proto', target));
root.loadSync('rpc.proto', { keepCase: true });
const PutRequest = root.lookupType('etcdserverpb.PutRequest');

describe('lean etcd put: etcdserverpb.PutRequest written by hand', () => {
  it('encodes key and value as etcd3 does, for any strings (seeded)', () => {
    const seed = testSeed('lean etcd put');
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 2_000 }), (key, value) => {
        const theirs = Buffer.from(PutRequest.encode(PutRequest.fromObject({ key: Buffer.from(key), value: Buffer.from(value) })).finish());
        expect(putRequest(key, value).equals(theirs)).toBe(true);
      }),
      { seed, numRuns: 300 },
    );
  });

  it('calls the path gRPC gives etcd\'s KV.Put', () => {
    const kv = root.lookupService('etcdserverpb.KV');
    expect(kv.methods.Put?.requestType).toBe('PutRequest');
    expect(PUT_PATH).toBe(`/${kv.fullName.replace(/^\./, '')}/Put`);
  });

  it.skipIf(etcdMissing)('writes what etcd3 then reads, over every member, and says which call failed when one does', async () => {
    const cluster = await startTestCluster();
    const puts = new LeanEtcdPuts(cluster.endpoints, 5_000);
    const reader = new Etcd3({ hosts: [...cluster.endpoints] });
    try {
      const prefix = freshPrefix('lean-put');
      // Six puts over three members in turn: two through each (a follower forwards to the leader).
      for (let i = 0; i < 6; i++) await puts.put(`${prefix}/${i}`, `value ${i} é`);
      const stored = await reader.getAll().prefix(`${prefix}/`).strings();
      expect(stored).toEqual(Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`${prefix}/${i}`, `value ${i} é`])));
      // An empty key is refused by etcd (InvalidArgument): the error carries its status and the path.
      const refused = await puts.put('', 'x').then(() => undefined, (err: unknown) => err);
      expect(refused).toBeInstanceOf(PortalCallError);
      expect((refused as PortalCallError).code).toBe(3);
      expect(() => new LeanEtcdPuts(['https://127.0.0.1:2379'], 1_000)).toThrow(/plain http:\/\/ only/);
    } finally {
      puts.close();
      reader.close();
      await cluster.stop();
    }
  }, 60_000);
});
