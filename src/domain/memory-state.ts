import type { Outcome, RecordView, Write } from './machine.js';
import { execute } from './machine.js';
import type { Command } from './commands.js';
import type { RecordKind, RecordOfKind, StoredRecord } from './records.js';
import type { ClientOrderPage } from './backend.js';
import { OrderIndexes } from './order-index.js';

/** A JSON-serialisable copy of the whole data set, for handing state to a joining replica. */
export interface StateSnapshot {
  readonly records: ReadonlyArray<readonly [kind: RecordKind, id: string, record: StoredRecord]>;
}

/** The whole data set in memory: single mode's store and each mqtt-mode portal's replica. */
export class MemoryState implements RecordView {
  private readonly tables: { [K in RecordKind]: Map<string, RecordOfKind<K>> } = {
    client: new Map(),
    product: new Map(),
    order: new Map(),
    clientOrder: new Map(),
  };
  private readonly orderIndexes = new OrderIndexes();

  get<K extends RecordKind>(kind: K, id: string): RecordOfKind<K> | undefined {
    return (this.tables[kind] as Map<string, RecordOfKind<K>>).get(id);
  }

  /** Runs a command and applies its writes; the state changes only when the reply is a success. */
  execute(command: Command): Outcome {
    const outcome = execute(command, this);
    this.apply(outcome.writes);
    return outcome;
  }

  apply(writes: readonly Write[]): void {
    for (const { key, value } of writes) {
      const table = this.tables[key.kind] as Map<string, StoredRecord>;
      if (key.kind === 'clientOrder') this.indexWrite(key.id, table.get(key.id), value);
      if (value === null) table.delete(key.id);
      else table.set(key.id, value);
    }
  }

  /** A page of client `cid`'s order index (Backend.clientOrders). */
  clientOrders(cid: string, afterSeq: number, limit: number): ClientOrderPage {
    return this.orderIndexes.page(cid, afterSeq, limit);
  }

  private indexWrite(id: string, before: StoredRecord | undefined, after: StoredRecord | null): void {
    if (before?.kind === 'clientOrder') this.orderIndexes.remove(id);
    if (after?.kind === 'clientOrder') this.orderIndexes.put(id, after);
  }

  count(kind: RecordKind): number {
    return this.tables[kind].size;
  }

  snapshot(): StateSnapshot {
    const records: Array<[RecordKind, string, StoredRecord]> = [];
    for (const kind of Object.keys(this.tables) as RecordKind[]) {
      for (const [id, record] of this.tables[kind]) records.push([kind, id, record]);
    }
    return { records };
  }

  static fromSnapshot(snapshot: StateSnapshot): MemoryState {
    const state = new MemoryState();
    state.apply(snapshot.records.map(([kind, id, record]) => ({ key: { kind, id }, value: record })));
    return state;
  }
}
