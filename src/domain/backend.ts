import type { Command, Reply } from './commands.js';
import type { RecordKind, RecordOfKind } from './records.js';

/** One entry of a client's order index: the order placed with sequence number `seq`. */
export interface ClientOrderEntry {
  readonly seq: number;
  readonly oid: string;
}

/**
 * A page of a client's order index, in creation order. `next` is where the following page
 * starts (after that seq), null once the index holds nothing further; a page may hold fewer
 * entries than asked for (even none) while `next` is not null.
 */
export interface ClientOrderPage {
  readonly entries: readonly ClientOrderEntry[];
  readonly next: number | null;
}

/** The most index entries one page may ask for: it bounds a reply and what a store reads at once. */
export const CLIENT_ORDER_PAGE_MAX = 1_024;

/**
 * Where the portals' data lives. The portal handlers speak only to this interface, so they
 * do not know whether the state is in this process, in every portal kept in step by a
 * broker, in Raft partitions or in etcd.
 */
export interface Backend {
  /** Runs a write. A store that cannot answer in time resolves with a 503 reply, never throws. */
  execute(command: Command): Promise<Reply>;
  /** Reads one record; undefined when it does not exist. Throws StoreUnavailableError when the store cannot answer. */
  read<K extends RecordKind>(kind: K, id: string): Promise<RecordOfKind<K> | undefined>;
  /**
   * Up to `limit` (1 to CLIENT_ORDER_PAGE_MAX) entries of client `cid`'s order index with a
   * sequence number above `afterSeq`, as committed: one bounded range read, whatever the
   * client's order count. Throws StoreUnavailableError when the store cannot answer.
   */
  clientOrders(cid: string, afterSeq: number, limit: number): Promise<ClientOrderPage>;
  /** Stops background work and connections. */
  close(): Promise<void>;
}

/**
 * The backend, with more to stop when it closes (a timer, a subscription): `cleanup` runs first,
 * then the backend's own close. Wrapping instead of replacing `close` on the object keeps the
 * object's type honest.
 */
export function withCleanup(inner: Backend, cleanup: () => Promise<void> | void): Backend {
  return {
    execute: (command) => inner.execute(command),
    read: <K extends RecordKind>(kind: K, id: string) => inner.read(kind, id),
    clientOrders: (cid, afterSeq, limit) => inner.clientOrders(cid, afterSeq, limit),
    close: async () => {
      await cleanup();
      await inner.close();
    },
  };
}

export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
}
