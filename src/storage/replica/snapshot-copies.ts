import { open, unlink, type FileHandle } from 'node:fs/promises';
import type { Message } from '../../raft/types.js';
import { defined } from '../../util/assert.js';
import { MAX_TRANSFER_BYTES, type FileTail } from './message-chunks.js';
import { shapeOf, type SnapshotReply } from './snapshot-format.js';
import type { SnapshotThread } from './snapshot-thread.js';

/**
 * A store file larger than this is sent as a record copy instead: the Snap around it must fit in
 * one transfer. The receiver writes a store file to disk as it arrives, so only the transfer's
 * own bound applies (a record copy is held in memory, and was what carried partitions over
 * 512 MiB before).
 */
const MAX_STORE_FILE_BYTES = MAX_TRANSFER_BYTES - (1 << 20);
/** How long a copy is kept after it was last asked for: Raft sends a snapshot again while a slow transfer runs. */
const KEEP_MS = 30_000;
/**
 * The slowest a follower is expected to take in a copy (the transfer, then writing and checking
 * it) before the same copy is sent to it again. Raft sends a snapshot again every election
 * timeout until it is acknowledged; a copy of a few hundred MB takes seconds, and sending it
 * whole again at every resend kept a leader's event loop busy until it lost its leadership, at
 * 1,000,000 records, for good. A transfer that breaks is sent again after this pause at most.
 */
const RESEND_FLOOR_MB_PER_S = 20;
const RESEND_PAUSE_MIN_MS = 2_000;

export function resendPause_ms(bytes: number): number {
  return Math.max(RESEND_PAUSE_MIN_MS, bytes / (RESEND_FLOOR_MB_PER_S * 1_000));
}

export interface CopySent {
  readonly to: number;
  readonly index: number;
  readonly applied: number;
  readonly bytes: number;
  readonly ms: number;
  /** Whether the transport took it; a dropped copy is sent again at Raft's next resend. */
  readonly left: boolean;
}

/** A copy's data: what the message carries (a store file's header; nothing, for a record copy), then the file open on disk. */
interface Body {
  readonly data: Uint8Array;
  readonly tail: OpenCopy | undefined;
}

/** Bytes a copy sends: its data and the file after it. */
const bytesOf = (body: Body): number => body.data.length + (body.tail?.bytes ?? 0);

/**
 * The full copies of the state that Snap messages carry. The core's snapshots are markers (the
 * store holds the state, snapshot-format.ts); a Snap to a follower that needs one is held here
 * until the snapshot worker has read the store in one transaction, then sent with the copy in
 * the marker's place. One copy is made at a time and kept a while, so the core's resends during a
 * long transfer cost neither another read of the store nor a restart of the transfer (the peer
 * transport resumes a transfer of the same bytes).
 */
export class SnapshotCopies {
  private kept: { index: number; applied: number; body: Body; made_ms: number; timer: NodeJS.Timeout } | undefined;
  /** Followers whose Snap waits for the copy being made. */
  private readonly waiting = new Map<number, Message>();
  private making = false;
  private closed = false;
  /** The copy each follower was last sent, and until when a resend of it is held back. */
  private readonly delivered = new Map<number, { index: number; body: Body; until_ms: number }>();

  constructor(
    private readonly thread: SnapshotThread,
    /** Sends a Snap, its data followed by the file's bytes when there is a tail; false when the transport dropped it. */
    private readonly send: (message: Message, tail: FileTail | undefined) => boolean,
    private readonly sent: (copy: CopySent) => void,
    private readonly failed: (err: Error) => void,
    private readonly now_ms: () => number = () => performance.now(),
  ) {}

  /** Whether `m` is a Snap whose snapshot names this replica's store (its own, or one installed from a leader), which must be copied to leave. */
  static needsCopy(this: void, m: Message): boolean {
    if (m.type !== 'Snap' || m.snapshot === undefined) return false;
    const shape = shapeOf(m.snapshot.data);
    return shape === 'marker' || shape === 'staged';
  }

  /** Sends `m` with a copy of the state at or after its snapshot's index: at once if one is kept, else once made. */
  offer(m: Message): void {
    const index = m.snapshot?.meta.index ?? 0;
    const kept = this.kept;
    if (kept !== undefined && kept.index === index) {
      kept.timer.refresh();
      const last = this.delivered.get(m.to);
      // Still on its way, or being written and checked: the follower answers once it has installed it.
      if (last !== undefined && last.index === index && last.body === kept.body && this.now_ms() < last.until_ms) return;
      // The copy's making time is told with the first copy that leaves for this follower.
      this.deliver(m, kept.applied, kept.body, last === undefined ? kept.made_ms : 0);
      return;
    }
    // The core sends again while the copy is made; the latest of its messages wins.
    this.waiting.set(m.to, m);
    if (!this.making) this.make(index);
  }

  close(): void {
    this.closed = true;
    this.drop();
    this.waiting.clear();
    this.delivered.clear();
  }

  private make(index: number): void {
    this.making = true;
    const started = performance.now();
    this.thread
      .copy({ kind: 'copy', maxFileBytes: MAX_STORE_FILE_BYTES })
      .then(async (reply) => ({ applied: reply.applied, body: await bodyOf(reply) }))
      .then(
        ({ applied, body }) => {
          this.making = false;
          // Made while the replica stopped: nothing will send it.
          if (this.closed) return closeBody(body);
          this.drop();
          // The store only moves forward, so the copy is at or after every marker taken before it.
          const ms = performance.now() - started;
          this.kept = { index, applied, body, made_ms: ms, timer: setTimeout(() => this.drop(), KEEP_MS).unref() };
          // Taken out first: a Snap for another index goes back into `waiting` (offer), and a Map
          // being iterated visits an entry added back behind it, so iterating `waiting` itself here
          // looped for good, the event loop blocked (the leader hang that reverted this design once).
          const pending = [...this.waiting.values()];
          this.waiting.clear();
          for (const m of pending) {
            if ((m.snapshot?.meta.index ?? 0) === index) this.deliver(m, applied, body, ms);
            else this.offer(m);
          }
        },
        (err: unknown) => {
          this.making = false;
          this.waiting.clear();
          this.failed(err instanceof Error ? err : new Error(String(err)));
        },
      );
  }

  private deliver(m: Message, applied: number, body: Body, ms: number): void {
    const snapshot = defined(m.snapshot, 'the snapshot of a Snap message');
    const left = this.send({ ...m, snapshot: { meta: snapshot.meta, data: body.data } }, body.tail);
    const bytes = bytesOf(body);
    // Only a copy that left is waited for: holding back the resend of one the transport dropped
    // (its connection to a follower that just started was not ready yet) left the follower idle
    // for the whole pause, 2.4 s of a 3.8 s catch-up at 100,000 records.
    // A drop keeps an earlier delivery's entry: a copy streaming on the link is not sent again whole.
    if (left) this.delivered.set(m.to, { index: snapshot.meta.index, body, until_ms: this.now_ms() + resendPause_ms(bytes) });
    this.sent({ to: m.to, index: snapshot.meta.index, applied, bytes, ms, left });
  }

  private drop(): void {
    if (this.kept === undefined) return;
    clearTimeout(this.kept.timer);
    // A transfer still reading the file stops, and Raft sends the snapshot again with a newer copy.
    closeBody(this.kept.body);
    this.kept = undefined;
  }
}

/** Closes a copy's file (its space is then freed); a failure to close frees nothing more to tell. */
function closeBody(body: Body): void {
  body.tail?.close().catch(() => undefined);
}

/** A worker's reply as a copy to send. */
async function bodyOf(reply: SnapshotReply): Promise<Body> {
  if (reply.file === undefined) return { data: reply.data, tail: undefined };
  return { data: reply.data, tail: await openCopyFile(reply.file.path, reply.file.bytes) };
}

/** A copy of the state the snapshot worker left on disk, open to be read; closing it frees its space. */
export type OpenCopy = FileTail & { close(): Promise<void> };

/**
 * Opens a copy the snapshot worker wrote and unlinks it at once: it is read through the open
 * handle for as long as it is kept, and its space is freed when the handle closes, or when the
 * process dies, so no copy is left on disk behind a crash.
 */
export async function openCopyFile(path: string, bytes: number): Promise<OpenCopy> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } finally {
    await unlink(path).catch(() => undefined);
  }
  const file = handle;
  return {
    bytes,
    read: async (into, position) => {
      for (let at = 0; at < into.length; ) {
        const { bytesRead } = await file.read(into, at, into.length - at, position + at);
        if (bytesRead === 0) throw new Error(`the copy of the state ended at ${position + at} of its ${bytes} bytes`);
        at += bytesRead;
      }
    },
    close: () => file.close(),
  };
}
