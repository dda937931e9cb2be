import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SendWindow, type NotSent, type Ticket } from '../../src/storage/client/send-window.js';
import { Prng } from '../../src/util/random.js';
import { testSeed } from '../helpers/seed.js';

const sent = (granted: Ticket | NotSent): Ticket => {
  if ('notSent' in granted) throw new Error(`not sent: ${granted.notSent}`);
  return granted;
};

describe('a send window (the cluster client under busy answers)', () => {
  beforeEach(() => vi.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => vi.useRealTimers());
  const far = () => Date.now() + 60_000;

  it('sends up to its width at once; the rest wait, in order, for answers to make room', async () => {
    const w = new SendWindow({ max: 2, maxWaiting: 10 });
    const first = sent(await w.acquire(far()));
    sent(await w.acquire(far()));
    const order: string[] = [];
    void w.acquire(far()).then(() => order.push('third'));
    void w.acquire(far()).then(() => order.push('fourth'));
    await vi.advanceTimersByTimeAsync(0);
    expect([w.sending, w.waiting, order]).toEqual([2, 2, []]);
    w.release(first, 'answered');
    await vi.advanceTimersByTimeAsync(0);
    expect([w.sending, w.waiting, order]).toEqual([2, 1, ['third']]);
  });

  it('a busy answer halves the window once per round; answers widen it back, never past the most', async () => {
    const w = new SendWindow({ max: 8, maxWaiting: 10 });
    const tickets = await Promise.all(Array.from({ length: 8 }, () => w.acquire(far()).then(sent)));
    // Three busy answers to requests sent into the same window: one cut, not three.
    for (const t of tickets.slice(0, 3)) w.release(t, 'busy');
    expect(w.width).toBe(4);
    // Each answer widens it by 1/width: five take it from 4 to 5.
    for (const t of tickets.slice(3)) w.release(t, 'answered');
    expect(w.width).toBe(5);
    // A request sent after the cut and refused too cuts again, to half of what was out.
    const late = await Promise.all(Array.from({ length: 4 }, () => w.acquire(far()).then(sent)));
    w.release(late[0]!, 'busy');
    expect(w.width).toBe(2);
    // Every busy answer is counted (the portal's metrics), the cuts once per round.
    expect(w.state).toEqual({ width: 2, sending: 3, waiting: 0, busy: 4, cuts: 2, notSentDeadline: 0, notSentTooManyWaiting: 0 });
    for (const t of late.slice(1)) w.release(t, 'answered');
    for (let i = 0; i < 200; i++) w.release(sent(await w.acquire(far())), 'answered');
    expect(w.width).toBe(8);
  });

  it('a window far wider than its use comes down to half of what was out, not half of itself', async () => {
    const w = new SendWindow({ max: 4_096, maxWaiting: 10 });
    const tickets = await Promise.all(Array.from({ length: 40 }, () => w.acquire(far()).then(sent)));
    w.release(tickets[0]!, 'busy');
    expect(w.width).toBe(20);
  });

  it('a waiting request whose deadline passes is not sent, and says so', async () => {
    const w = new SendWindow({ max: 1, maxWaiting: 10 });
    const held = sent(await w.acquire(far()));
    const waiting = w.acquire(Date.now() + 500);
    await vi.advanceTimersByTimeAsync(499);
    expect(w.waiting).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(await waiting).toEqual({ notSent: 'deadline', waiting: 0 });
    expect(w.state).toEqual({ width: 1, sending: 1, waiting: 0, busy: 0, cuts: 0, notSentDeadline: 1, notSentTooManyWaiting: 0 });
    // Its place is gone: the next answer's room goes to whoever waits now, or stays free.
    w.release(held, 'answered');
    expect([w.sending, w.waiting]).toEqual([0, 0]);
    sent(await w.acquire(far()));
  });

  it('refuses at once, unsent, when too many already wait', async () => {
    const w = new SendWindow({ max: 1, maxWaiting: 2 });
    sent(await w.acquire(far()));
    void w.acquire(far());
    void w.acquire(far());
    expect(await w.acquire(far())).toEqual({ notSent: 'too-many-waiting', waiting: 2 });
    expect(w.state).toEqual({ width: 1, sending: 1, waiting: 2, busy: 0, cuts: 0, notSentDeadline: 0, notSentTooManyWaiting: 1 });
  });

  it('a request refused busy waits ahead of those never sent', async () => {
    const w = new SendWindow({ max: 1, maxWaiting: 10 });
    const held = sent(await w.acquire(far()));
    const order: string[] = [];
    void w.acquire(far()).then(() => order.push('fresh'));
    void w.acquire(far(), true).then(() => order.push('retry'));
    w.release(held, 'answered');
    await vi.advanceTimersByTimeAsync(0);
    expect(order).toEqual(['retry']);
  });

  it('send window under random answers, seeded: every request is settled once and the window holds', async () => {
    const seed = testSeed('send window under random answers');
    const r = new Prng(seed);
    const max = 1 + r.int(64);
    const w = new SendWindow({ max, maxWaiting: 1 + r.int(200) });
    const out: Ticket[] = [];
    let settled = 0;
    let asked = 0;
    for (let step = 0; step < 5_000; step++) {
      if (r.chance(0.55)) {
        asked++;
        void w.acquire(Date.now() + r.int(50), r.chance(0.2)).then((g) => {
          settled++;
          if (!('notSent' in g)) out.push(g);
        });
      } else if (out.length > 0) {
        w.release(out.splice(r.int(out.length), 1)[0]!, r.chance(0.3) ? 'busy' : 'answered');
      }
      await vi.advanceTimersByTimeAsync(r.int(3));
      expect(w.sending, `seed ${seed}, step ${step}`).toBe(out.length);
      expect(w.width, `seed ${seed}, step ${step}`).toBeGreaterThanOrEqual(1);
      expect(w.width, `seed ${seed}, step ${step}`).toBeLessThanOrEqual(max);
    }
    // Answer everything out; each answer may let a waiter go, which is answered in turn.
    while (out.length > 0 || w.waiting > 0) {
      while (out.length > 0) w.release(out.pop()!, 'answered');
      await vi.advanceTimersByTimeAsync(1);
    }
    expect(settled, `seed ${seed}`).toBe(asked);
    expect([w.sending, w.waiting], `seed ${seed}`).toEqual([0, 0]);
  });
});
