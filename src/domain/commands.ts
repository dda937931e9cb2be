import type { Message } from './messages.js';
import type { RecordKey } from './records.js';

/**
 * The writes the business state machine accepts. A command carries the request exactly as
 * the client sent it (`data` unparsed), so every replica that applies it parses and validates
 * it with the same code and reaches the same verdict.
 */
export type Command =
  | { readonly op: 'CreateClient'; readonly cid: string; readonly data: string }
  | { readonly op: 'UpdateClient'; readonly cid: string; readonly data: string }
  | { readonly op: 'DeleteClient'; readonly cid: string }
  | { readonly op: 'CreateProduct'; readonly pid: string; readonly data: string }
  | { readonly op: 'UpdateProduct'; readonly pid: string; readonly data: string }
  | { readonly op: 'DeleteProduct'; readonly pid: string }
  | { readonly op: 'CreateOrder'; readonly oid: string; readonly cid: string; readonly data: string }
  | { readonly op: 'UpdateOrder'; readonly oid: string; readonly cid: string; readonly data: string }
  | { readonly op: 'DeleteOrder'; readonly oid: string };

export type CommandOp = Command['op'];

export const COMMAND_OPS: readonly CommandOp[] = [
  'CreateClient',
  'UpdateClient',
  'DeleteClient',
  'CreateProduct',
  'UpdateProduct',
  'DeleteProduct',
  'CreateOrder',
  'UpdateOrder',
  'DeleteOrder',
];

/** Reply codes of the API: ok, invalid/conflict, not found, internal, store unavailable. */
export type ErrorCode = 400 | 404 | 500 | 503;

export type Reply = { readonly code: 0 } | { readonly code: ErrorCode; readonly message: Message };

export const OK: Reply = Object.freeze({ code: 0 });

const FIELDS: Record<CommandOp, readonly string[]> = {
  CreateClient: ['cid', 'data'],
  UpdateClient: ['cid', 'data'],
  DeleteClient: ['cid'],
  CreateProduct: ['pid', 'data'],
  UpdateProduct: ['pid', 'data'],
  DeleteProduct: ['pid'],
  CreateOrder: ['oid', 'cid', 'data'],
  UpdateOrder: ['oid', 'cid', 'data'],
  DeleteOrder: ['oid'],
};

/**
 * Checks that a value received from another process is a well-formed command; replicas
 * call it before applying anything that came over a wire.
 */
export function asCommand(value: unknown): Command | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const record = value as Record<string, unknown>;
  const op = record.op;
  if (typeof op !== 'string' || !Object.hasOwn(FIELDS, op)) return undefined;
  const fields = FIELDS[op as CommandOp];
  for (const name of fields) if (typeof record[name] !== 'string') return undefined;
  const command: Record<string, string> = { op };
  for (const name of fields) command[name] = record[name] as string;
  return command as unknown as Command;
}

/**
 * The records a command names in its fields, the one that decides where it runs first: the
 * order for order commands, else the client or product. (Records named inside `data`, such as
 * an order's products, are not included.)
 */
export function namedKeys(command: Command): [RecordKey, ...RecordKey[]] {
  switch (command.op) {
    case 'CreateClient':
    case 'UpdateClient':
    case 'DeleteClient':
      return [{ kind: 'client', id: command.cid }];
    case 'CreateProduct':
    case 'UpdateProduct':
    case 'DeleteProduct':
      return [{ kind: 'product', id: command.pid }];
    case 'CreateOrder':
    case 'UpdateOrder':
      return [
        { kind: 'order', id: command.oid },
        { kind: 'client', id: command.cid },
      ];
    case 'DeleteOrder':
      return [{ kind: 'order', id: command.oid }];
  }
}
