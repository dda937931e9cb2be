import type { Command, Reply } from './commands.js';
import type { RecordKind, RecordOfKind } from './records.js';

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
    close: async () => {
      await cleanup();
      await inner.close();
    },
  };
}

export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
}
