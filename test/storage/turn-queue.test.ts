import { afterEach, describe, expect, it } from 'vitest';
import { TurnQueue } from '../../src/storage/replica/turn-queue.js';
import { InvariantError } from '../../src/util/assert.js';

/**
 * Numbers the turns of the event loop: an immediate that queues itself again runs once per
 * check phase (Node runs the immediates queued during a check phase in the next one).
 */
function loopTurns(): { readonly now: () => number; readonly stop: () => void } {
  let turn = 0;
  let stopped = false;
  const count = () => {
    turn++;
    if (!stopped) setImmediate(count);
  };
  setImmediate(count);
  return { now: () => turn, stop: () => (stopped = true) };
}

let counter: ReturnType<typeof loopTurns> | undefined;
afterEach(() => counter?.stop());

/** Resolves once `queue` has run every turn it was given. */
async function drained(queue: TurnQueue): Promise<void> {
  while (queue.length > 0) await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
}

describe('replica turns', () => {
  it('runs one turn per turn of the event loop, in the order asked', async () => {
    counter = loopTurns();
    const queue = new TurnQueue(8);
    const ran: Array<[string, number]> = [];
    for (const name of ['a', 'b', 'c']) queue.soon(() => ran.push([name, counter!.now()]));
    await drained(queue);
    expect(ran.map(([name]) => name)).toEqual(['a', 'b', 'c']);
    const [a, b, c] = ran.map(([, turn]) => turn);
    expect(b, JSON.stringify(ran)).toBeGreaterThan(a!);
    expect(c, JSON.stringify(ran)).toBeGreaterThan(b!);
  });

  it('lets timers run between two turns', async () => {
    const queue = new TurnQueue(8);
    const ran: string[] = [];
    queue.soon(() => {
      ran.push('first');
      // A timer already due when the first turn ends runs before the second turn.
      setTimeout(() => ran.push('timer'), 0);
      const until = performance.now() + 5;
      while (performance.now() < until);
    });
    queue.soon(() => ran.push('second'));
    await drained(queue);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(ran).toEqual(['first', 'timer', 'second']);
  });

  it('puts a turn that asks again after the turns already waiting', async () => {
    const queue = new TurnQueue(8);
    const ran: string[] = [];
    let again = 2;
    const busy = () => {
      ran.push('busy');
      if (again-- > 0) queue.soon(busy);
    };
    queue.soon(busy);
    queue.soon(() => ran.push('other'));
    await drained(queue);
    expect(ran).toEqual(['busy', 'other', 'busy', 'busy']);
  });

  it('runs the turns after one that throws', async () => {
    const queue = new TurnQueue(8);
    const ran: string[] = [];
    const thrown: unknown[] = [];
    const onError = (err: unknown) => thrown.push(err);
    // vitest reports uncaught errors as failures: this one is expected, so it is caught here.
    process.prependListener('uncaughtException', onError);
    try {
      queue.soon(() => {
        throw new Error('a turn failed');
      });
      queue.soon(() => ran.push('after'));
      await drained(queue);
    } finally {
      process.removeListener('uncaughtException', onError);
    }
    expect(ran).toEqual(['after']);
    expect(thrown.map((e) => (e as Error).message)).toEqual(['a turn failed']);
  });

  it('refuses more waiting turns than its bound', () => {
    const queue = new TurnQueue(2);
    queue.soon(() => undefined);
    queue.soon(() => undefined);
    expect(() => queue.soon(() => undefined)).toThrow(InvariantError);
    expect(queue.length).toBe(2);
  });
});
