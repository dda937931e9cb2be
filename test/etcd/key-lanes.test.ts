import { describe, expect, it } from 'vitest';
import { KeyLanes, LaneTimeoutError, QueueFullError } from '../../src/modes/etcd/key-lanes.js';

describe('etcd key lanes (turns for writes on the same records in one portal)', () => {
  const later = (ms: number) => Date.now() + ms;

  it('gives turns on shared keys in arrival order and lets disjoint writes run together', async () => {
    const lanes = new KeyLanes(10);
    const log: string[] = [];
    const leaveA = await lanes.enter(['p1', 'c1'], later(1_000));
    const b = lanes.enter(['p1'], later(1_000)).then((leave) => (log.push('b'), leave));
    const c = lanes.enter(['c1', 'p2'], later(1_000)).then((leave) => (log.push('c'), leave));
    const leaveD = await lanes.enter(['p9'], later(1_000));
    log.push('d');
    leaveD();
    expect(log).toEqual(['d']);
    leaveA();
    (await b)();
    (await c)();
    expect(log).toEqual(['d', 'b', 'c']);
  });

  it('a write that gives up waiting still keeps later writes behind the earlier ones', async () => {
    const lanes = new KeyLanes(10);
    const leaveA = await lanes.enter(['p1'], later(1_000));
    await expect(lanes.enter(['p1'], later(20))).rejects.toBeInstanceOf(LaneTimeoutError);
    let cEntered = false;
    const c = lanes.enter(['p1'], later(1_000)).then((leave) => ((cEntered = true), leave));
    await new Promise((resolve) => setImmediate(resolve));
    expect(cEntered, 'c must not pass a still-running a because b gave up').toBe(false);
    leaveA();
    (await c)();
    expect(cEntered).toBe(true);
  });

  it('refuses at once beyond its bound of waiting writes', async () => {
    const lanes = new KeyLanes(1);
    const leaveA = await lanes.enter(['p1'], later(1_000));
    const b = lanes.enter(['p1'], later(1_000));
    await expect(lanes.enter(['p1'], later(1_000))).rejects.toBeInstanceOf(QueueFullError);
    leaveA();
    (await b)();
    expect(lanes.queued).toBe(0);
  });
});
