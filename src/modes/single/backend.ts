import type { Command, Reply } from '../../domain/commands.js';
import { MemoryState } from '../../domain/memory-state.js';
import type { RecordKind, RecordOfKind } from '../../domain/records.js';
import type { Backend, ClientOrderPage } from '../../domain/backend.js';

/** single mode: one process, the state in its memory, commands applied in arrival order. */
export class SingleBackend implements Backend {
  constructor(readonly state: MemoryState = new MemoryState()) {}

  execute(command: Command): Promise<Reply> {
    // An invariant failure inside the machine becomes a rejected promise, which the portal
    // reports as a 500 instead of crashing the process.
    return new Promise((resolve) => resolve(this.state.execute(command).reply));
  }

  read<K extends RecordKind>(kind: K, id: string): Promise<RecordOfKind<K> | undefined> {
    return Promise.resolve(this.state.get(kind, id));
  }

  clientOrders(cid: string, afterSeq: number, limit: number): Promise<ClientOrderPage> {
    return Promise.resolve(this.state.clientOrders(cid, afterSeq, limit));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
