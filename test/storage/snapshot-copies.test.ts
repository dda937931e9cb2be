import { describe, expect, it } from 'vitest';
import type { Message } from '../../src/raft/types.js';
import type { SnapshotReply } from '../../src/storage/replica/snapshot-format.js';
import { resendPause_ms, SnapshotCopies, type CopySent } from '../../src/storage/replica/snapshot-copies.js';
import type { SnapshotThread } from '../../src/storage/replica/snapshot-thread.js';

/** A snapshot thread whose copies finish when the test says, each at the applied index given. */
class FakeThread {
  readonly copies: Array<(applied: number) => void> = [];

  copy(): Promise<SnapshotReply> {
    return new Promise((resolve) => this.copies.push((applied) => resolve({ applied, data: new Uint8Array([applied & 0xff]) } as unknown as SnapshotReply)));
  }
}

/** Lets the copy's promise callbacks run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

const snapTo = (to: number, index: number): Message => ({ type: 'Snap', from: 1, to, term: 2, snapshot: { meta: { index, term: 2 }, data: new Uint8Array() } }) as unknown as Message;

function setUp() {
  const thread = new FakeThread();
  const sent: Message[] = [];
  /** Whether the transport takes the next Snap (false: no ready connection yet). */
  const link = { up: true };
  const told: CopySent[] = [];
  const clock = { now_ms: 0 };
  const copies = new SnapshotCopies(
    thread as unknown as SnapshotThread,
    (m) => {
      if (link.up) sent.push(m);
      return link.up;
    },
    (c) => told.push(c),
    (err) => {
      throw err;
    },
    () => clock.now_ms,
  );
  return { thread, sent, told, copies, clock, link };
}

describe('SnapshotCopies: one copy at a time, each Snap sent with a copy at or after its index', () => {
  it('sends a Snap whose snapshot moved on while a copy was made, after a second copy, and ends', async () => {
    const { thread, sent, told, copies } = setUp();
    copies.offer(snapTo(2, 100));
    expect(thread.copies).toHaveLength(1);
    // The leader compacted again meanwhile: its next Snap to 2 names a newer snapshot, and one to 3 the old one.
    copies.offer(snapTo(2, 200));
    copies.offer(snapTo(3, 100));
    thread.copies.shift()!(150); // the copy made for index 100 (the store had reached 150)
    await settle();
    expect(sent.map((m) => [m.to, m.snapshot?.meta.index])).toEqual([[3, 100]]);
    // The Snap for 200 waits for a copy of its own: exactly one more was asked for.
    expect(thread.copies).toHaveLength(1);
    thread.copies.shift()!(230);
    await settle();
    expect(sent.map((m) => [m.to, m.snapshot?.meta.index])).toEqual([
      [3, 100],
      [2, 200],
    ]);
    expect(told.map((c) => c.applied)).toEqual([150, 230]);
    expect(thread.copies).toHaveLength(0);
    copies.close();
  });

  it('sends again from the copy it keeps, without another copy', async () => {
    const { thread, sent, copies } = setUp();
    copies.offer(snapTo(2, 100));
    thread.copies.shift()!(120);
    await settle();
    copies.offer(snapTo(3, 100));
    expect(thread.copies).toHaveLength(0);
    expect(sent.map((m) => m.to)).toEqual([2, 3]);
    copies.close();
  });

  it('holds back a resend of the copy a follower was just sent, until it has had time to take it in', async () => {
    const { thread, sent, copies, clock } = setUp();
    copies.offer(snapTo(2, 100));
    thread.copies.shift()!(120);
    await settle();
    // Raft's resends every election timeout while the copy travels and is written and checked.
    for (let t = 300; t < resendPause_ms(1); t += 300) {
      clock.now_ms = t;
      copies.offer(snapTo(2, 100));
    }
    expect(sent.map((m) => m.to)).toEqual([2]);
    // Another follower gets it at once; the first gets it again once the pause is over.
    copies.offer(snapTo(3, 100));
    clock.now_ms = resendPause_ms(1) + 1;
    copies.offer(snapTo(2, 100));
    expect(sent.map((m) => m.to)).toEqual([2, 3, 2]);
    expect(resendPause_ms(400e6)).toBe(20_000);
    copies.close();
  });

  it('does not hold back the resend of a copy the transport dropped', async () => {
    const { thread, sent, told, copies, clock, link } = setUp();
    // The follower just started: the leader's connection to it is not ready when the copy is done.
    link.up = false;
    copies.offer(snapTo(2, 100));
    thread.copies.shift()!(120);
    await settle();
    expect(sent).toHaveLength(0);
    // Raft's next resend, an election timeout later, goes out at once from the kept copy.
    link.up = true;
    clock.now_ms = 300;
    copies.offer(snapTo(2, 100));
    expect(sent.map((m) => m.to)).toEqual([2]);
    expect(thread.copies).toHaveLength(0);
    expect(told.map((c) => c.left)).toEqual([false, true]);
    // The copy's making time is told with the copy that left, as the bench's stages read it.
    expect(told[1]!.ms).toBeGreaterThan(0);
    // And that one is held back as usual.
    clock.now_ms = 600;
    copies.offer(snapTo(2, 100));
    expect(sent).toHaveLength(1);
    copies.close();
  });
});
