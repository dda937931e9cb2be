import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { describe, expect, it, vi } from 'vitest';
import { TurnWork } from '../../src/storage/replica/turn-work.js';

/** Busy for `ms` of wall time on this thread. */
function spin(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

describe('TurnWork: what held the event loop', () => {
  it('counts the CPU time the process got since the last take, and forgets it after', () => {
    const work = new TurnWork();
    try {
      work.take();
      const before = process.cpuUsage();
      spin(60);
      const used = process.cpuUsage(before);
      const report = work.take();
      // On a busy machine the spin gets less than its 60 ms of CPU: compare with what the process measured itself.
      expect(report.cpu_ms).toBeGreaterThanOrEqual(Math.floor((used.user + used.system) / 1000) - 1);
      expect(report.cpu_ms).toBeGreaterThan(0);
      expect(work.take().cpu_ms).toBeLessThan(report.cpu_ms);
    } finally {
      work.close();
    }
  });

  it('reads the process clock once for the replicas of one process ticking together, and splits the loop time on Linux', () => {
    const [a, b] = [new TurnWork(), new TurnWork()];
    const cpuUsage = vi.spyOn(process, 'cpuUsage');
    try {
      spin(20);
      cpuUsage.mockClear();
      const [first, second] = [a.take(), b.take()];
      expect(cpuUsage).toHaveBeenCalledTimes(1);
      expect(second.cpu_ms).toBe(first.cpu_ms);
      if (process.platform === 'linux') {
        expect(first.loop, 'the main thread\'s schedule from /proc/self/schedstat').toBeDefined();
        expect(first.loop!.running_ms + first.loop!.waitingForCpu_ms).toBeGreaterThanOrEqual(15);
      }
    } finally {
      cpuUsage.mockRestore();
      a.close();
      b.close();
    }
  });

  it('names a garbage collection pause that happened before the take', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const work = new TurnWork();
    try {
      work.take();
      gc();
      // Node hands GC entries to JavaScript after the collection: a turn of the loop later, as a tick would come.
      await new Promise((resolve) => setImmediate(resolve));
      const report = work.take();
      expect(report.longest_ms.gc, JSON.stringify(report)).toBeGreaterThan(0);
      expect(work.take().longest_ms.gc).toBeUndefined();
    } finally {
      work.close();
    }
  });

  it('keeps the longest of each kind of work', () => {
    const work = new TurnWork();
    try {
      work.note('apply', 3.2);
      work.note('apply', 41.7);
      work.note('apply', 9);
      work.note('restore', 5);
      const { longest_ms } = work.take();
      expect(longest_ms.apply).toBe(42);
      expect(longest_ms.restore).toBe(5);
      const after = work.take().longest_ms;
      expect([after.apply, after.restore]).toEqual([undefined, undefined]);
    } finally {
      work.close();
    }
  });

  it('adds up each kind of work, timed or noted, and starts again after each take', () => {
    const work = new TurnWork();
    try {
      work.note('apply', 3.2);
      work.note('apply', 9.4);
      const answer = work.timed('ready', () => {
        const until = performance.now() + 5;
        while (performance.now() < until);
        return 'done';
      });
      expect(answer).toBe('done');
      expect(() => work.timed('peers', () => { throw new Error('refused'); })).toThrow('refused');
      const { total_ms, longest_ms } = work.take();
      expect(total_ms.apply).toBe(13);
      expect(longest_ms.apply).toBe(9);
      expect(total_ms.ready).toBeGreaterThanOrEqual(5);
      expect(total_ms.peers).toBeDefined();
      // (A GC pause may come in between: only the kinds noted above are checked.)
      const after = work.take().total_ms;
      expect([after.apply, after.ready, after.peers]).toEqual([undefined, undefined, undefined]);
    } finally {
      work.close();
    }
  });
});
