import { describe, expect, it } from 'vitest';
import { etcdMissing, startTestCluster } from './helpers.js';

/**
 * The 3-member etcd cluster `ecom up --mode etcd` starts for itself: Ctrl-C stops it by stopping
 * its members. Stopped all at once, one member waited for peers that were already gone until
 * its 5 s grace ran out and it was killed, every time; in turn, each leaves on its own.
 */
describe.skipIf(etcdMissing)('a local etcd cluster', () => {
  it('stops every member by SIGTERM, none killed for outstaying its grace', { timeout: 60_000 }, async () => {
    const cluster = await startTestCluster();
    const children = cluster.members.map((m) => m.process!);
    expect(children).toHaveLength(3);
    await cluster.stop();
    const ended = await Promise.all(children.map((c) => c.exited));
    expect(ended.filter((how) => how === 'SIGKILL'), `how the members ended: ${ended.join(', ')}`).toEqual([]);
  });
});
