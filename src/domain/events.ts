import type { Write } from './machine.js';
import type { PyJsonValue } from './pyjson.js';
import { recordVisible, type RecordKind, type StoredRecord } from './records.js';

/**
 * Change events in the original's observer format, published on its topics
 * `clients`, `products`, `orders`: `{"op": "ADD"|"UPDATE"|"DELETE", "key": id, "data": {...}}`.
 * Only visible changes count: adding an order to a client's index changes nothing a reader sees.
 */
export interface ChangeEvent {
  readonly topic: 'clients' | 'products' | 'orders';
  readonly op: 'ADD' | 'UPDATE' | 'DELETE';
  readonly key: string;
  readonly data?: { [key: string]: PyJsonValue };
}

/** The order index of a client is bookkeeping, no reader sees it: no topic. */
const TOPICS: Record<RecordKind, ChangeEvent['topic'] | undefined> = { client: 'clients', product: 'products', order: 'orders', clientOrder: undefined };

export function changeEvents(before: (write: Write) => StoredRecord | undefined, writes: readonly Write[]): ChangeEvent[] {
  const events: ChangeEvent[] = [];
  for (const write of writes) {
    const previous = before(write);
    const topic = TOPICS[write.key.kind];
    if (topic === undefined) continue;
    const key = write.key.id;
    if (write.value === null) {
      if (previous !== undefined) events.push({ topic, op: 'DELETE', key });
      continue;
    }
    const data = recordVisible(write.value);
    if (previous === undefined) events.push({ topic, op: 'ADD', key, data });
    else if (JSON.stringify(recordVisible(previous)) !== JSON.stringify(data)) events.push({ topic, op: 'UPDATE', key, data });
  }
  return events;
}
