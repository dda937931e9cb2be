import type { PortalCalls } from '../../client/portal-calls.js';
import { NOT_FOUND_ID } from '../../domain/ids.js';
import type { ClientMsg, OrderMsg, ProductMsg, ReplyMsg } from '../../portal/messages.js';

/**
 * Every operation a client can ask of a portal, shared by the interactive menus and the
 * one-shot commands (`ecom admin create-client 44 '{"name": "Ana"}'`).
 */
export type OperationResult =
  | { readonly kind: 'reply'; readonly reply: ReplyMsg }
  | { readonly kind: 'object'; readonly found: boolean; readonly object: ClientMsg | ProductMsg | OrderMsg }
  | { readonly kind: 'list'; readonly orders: readonly OrderMsg[] };

export interface Operation {
  readonly name: string;
  readonly portal: 'admin' | 'order';
  readonly args: readonly string[];
  readonly description: string;
  readonly example: string;
  run(client: PortalCalls, args: readonly string[]): Promise<OperationResult>;
}

const reply = async (p: Promise<ReplyMsg>): Promise<OperationResult> => ({ kind: 'reply', reply: await p });
const object = async (p: Promise<ClientMsg | ProductMsg | OrderMsg>, id: (o: never) => string): Promise<OperationResult> => {
  const found = await p;
  return { kind: 'object', found: id(found as never) !== NOT_FOUND_ID, object: found };
};

function arg(args: readonly string[], index: number): string {
  const value = args[index];
  if (value === undefined) throw new Error(`missing argument ${index + 1}`);
  return value;
}

export const OPERATIONS: readonly Operation[] = [
  {
    name: 'create-client', portal: 'admin', args: ['CID', 'data'], description: 'create a client',
    example: `create-client 44 '{"name": "Lewis Hamilton"}'`,
    run: (c, a) => reply(c.createClient(arg(a, 0), arg(a, 1))),
  },
  {
    name: 'get-client', portal: 'admin', args: ['CID'], description: 'retrieve a client', example: 'get-client 44',
    run: (c, a) => object(c.retrieveClient(arg(a, 0)), (o: ClientMsg) => o.CID),
  },
  {
    name: 'update-client', portal: 'admin', args: ['CID', 'data'], description: 'rename a client',
    example: `update-client 44 '{"name": "Sir Lewis"}'`,
    run: (c, a) => reply(c.updateClient(arg(a, 0), arg(a, 1))),
  },
  {
    name: 'delete-client', portal: 'admin', args: ['CID'], description: 'delete a client (it must have no orders)',
    example: 'delete-client 44',
    run: (c, a) => reply(c.deleteClient(arg(a, 0))),
  },
  {
    name: 'create-product', portal: 'admin', args: ['PID', 'data'], description: 'create a product',
    example: `create-product 1 '{"name": "Caneta", "price": "2.50", "quantity": 8}'`,
    run: (c, a) => reply(c.createProduct(arg(a, 0), arg(a, 1))),
  },
  {
    name: 'get-product', portal: 'admin', args: ['PID'], description: 'retrieve a product', example: 'get-product 1',
    run: (c, a) => object(c.retrieveProduct(arg(a, 0)), (o: ProductMsg) => o.PID),
  },
  {
    name: 'update-product', portal: 'admin', args: ['PID', 'data'], description: 'replace a product (not while in an order)',
    example: `update-product 1 '{"name": "Caneta azul", "price": "3", "quantity": 10}'`,
    run: (c, a) => reply(c.updateProduct(arg(a, 0), arg(a, 1))),
  },
  {
    name: 'delete-product', portal: 'admin', args: ['PID'], description: 'delete a product (not while in an order)',
    example: 'delete-product 1',
    run: (c, a) => reply(c.deleteProduct(arg(a, 0))),
  },
  {
    name: 'create-order', portal: 'order', args: ['OID', 'CID', 'data'], description: 'create an order for a client',
    example: `create-order 10 2 '[{"id": "1", "quantity": "3"}]'`,
    run: (c, a) => reply(c.createOrder(arg(a, 0), arg(a, 1), arg(a, 2))),
  },
  {
    name: 'get-order', portal: 'order', args: ['OID'], description: 'retrieve an order with its total', example: 'get-order 10',
    run: (c, a) => object(c.retrieveOrder(arg(a, 0)), (o: OrderMsg) => o.OID),
  },
  {
    name: 'update-order', portal: 'order', args: ['OID', 'CID', 'data'],
    description: 'set new absolute quantities (0 removes an item; new products are added)',
    example: `update-order 10 2 '[{"id": "1", "quantity": "2"}]'`,
    run: (c, a) => reply(c.updateOrder(arg(a, 0), arg(a, 1), arg(a, 2))),
  },
  {
    name: 'delete-order', portal: 'order', args: ['OID'], description: 'delete an order (its units return to stock)',
    example: 'delete-order 10',
    run: (c, a) => reply(c.deleteOrder(arg(a, 0))),
  },
  {
    name: 'list-orders', portal: 'order', args: ['CID'], description: "list a client's orders (RetrieveClientOrders)",
    example: 'list-orders 2',
    run: async (c, a) => ({ kind: 'list', orders: await c.retrieveClientOrders(arg(a, 0)) }),
  },
];

export function operation(name: string): Operation {
  const op = OPERATIONS.find((o) => o.name === name);
  if (op === undefined) throw new Error(`no operation ${name}`);
  return op;
}

/** Whether the call failed because no server answered (as opposed to the server saying no). */
export function isUnreachable(err: unknown): err is Error & { code: number; details?: string } {
  const code = (err as { code?: unknown } | undefined)?.code;
  // 14 UNAVAILABLE, 4 DEADLINE_EXCEEDED.
  return err instanceof Error && (code === 14 || code === 4);
}

/** Whether the server refused the call for want of credentials (AdminPortal's token). */
export function isDenied(err: unknown): err is Error & { code: number; details?: string } {
  const code = (err as { code?: unknown } | undefined)?.code;
  // 16 UNAUTHENTICATED, 7 PERMISSION_DENIED.
  return err instanceof Error && (code === 16 || code === 7);
}

/** Whether an unreachable server was in fact reached and its certificate not trusted. */
export function isTlsFailure(err: Error & { details?: string }): boolean {
  return /certificate|ssl|tls/i.test(err.details ?? err.message);
}
