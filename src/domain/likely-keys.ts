import { namedKeys, type Command } from './commands.js';
import { isValidId } from './ids.js';
import { readOrderItems } from './input.js';
import type { RecordKey, RecordKind } from './records.js';

/**
 * The records a command will probably read, so that a backend can fetch or lock them in one
 * round instead of one round per product of an order. Only a hint, each key once: a backend
 * still loads or asks for whatever it missed, and a malformed request simply hints less.
 */
export function likelyKeys(command: Command): RecordKey[] {
  const keys: RecordKey[] = [];
  const add = (kind: RecordKind, id: string) => {
    if (isValidId(id) && !keys.some((k) => k.kind === kind && k.id === id)) keys.push({ kind, id });
  };
  for (const key of namedKeys(command)) add(key.kind, key.id);
  if (command.op === 'CreateOrder' || command.op === 'UpdateOrder') {
    const items = readOrderItems(command.data);
    if (items.ok) for (const item of items.value) add('product', item.pid);
  }
  return keys;
}
