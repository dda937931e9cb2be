import { STATUS_NAMES } from '../net/grpc/status.js';
import type { COURSE_PACKAGE } from '../portal/api-codec.js';
import type { ClientMsg, OrderMsg, ProductMsg, ReplyMsg } from '../portal/messages.js';

/**
 * What a client can ask of AdminPortal and OrderPortal, whichever gRPC client carries the
 * calls: grpc-js (PortalClient, for the interactive menus, the tests and the benchmarks) or the
 * lean HTTP/2 one (LeanPortalClient, for one-shot commands and the visibility probe). This file
 * loads neither, so a command can choose which one to load.
 */

export interface PortalClientOptions {
  readonly host: string;
  readonly port: number;
  readonly pkg?: '' | typeof COURSE_PACKAGE;
  /** Per-call deadline. */
  readonly timeout_ms?: number;
  /** Talk TLS, trusting servers whose certificate this CA (PEM) signed. */
  readonly tlsCa?: Buffer;
  /** AdminPortal's token, sent as "authorization: Bearer <token>" with every call. */
  readonly token?: string;
}

export const DEFAULT_TIMEOUT_MS = 10_000;

export type PortalService = 'AdminPortal' | 'OrderPortal';

/**
 * Every call of both portals, written once over the two primitives each client supplies: a
 * unary call and a server-streaming one, by service and method name (proto/api.proto).
 */
export abstract class PortalCalls {
  /** `host:port`, for messages. */
  abstract readonly address: string;
  protected abstract unary(service: PortalService, method: string, request: object): Promise<object>;
  /** Every message of a server stream, once it has ended well. */
  protected abstract serverStream(service: PortalService, method: string, request: object): Promise<object[]>;
  abstract close(): void;

  createClient(CID: string, data: string): Promise<ReplyMsg> {
    return this.unary('AdminPortal', 'CreateClient', { CID, data }).then(withDefaults(REPLY_DEFAULTS));
  }
  retrieveClient(ID: string): Promise<ClientMsg> {
    return this.unary('AdminPortal', 'RetrieveClient', { ID }).then(withDefaults(CLIENT_DEFAULTS));
  }
  updateClient(CID: string, data: string): Promise<ReplyMsg> {
    return this.unary('AdminPortal', 'UpdateClient', { CID, data }).then(withDefaults(REPLY_DEFAULTS));
  }
  deleteClient(ID: string): Promise<ReplyMsg> {
    return this.unary('AdminPortal', 'DeleteClient', { ID }).then(withDefaults(REPLY_DEFAULTS));
  }
  createProduct(PID: string, data: string): Promise<ReplyMsg> {
    return this.unary('AdminPortal', 'CreateProduct', { PID, data }).then(withDefaults(REPLY_DEFAULTS));
  }
  retrieveProduct(ID: string): Promise<ProductMsg> {
    return this.unary('AdminPortal', 'RetrieveProduct', { ID }).then(withDefaults(PRODUCT_DEFAULTS));
  }
  updateProduct(PID: string, data: string): Promise<ReplyMsg> {
    return this.unary('AdminPortal', 'UpdateProduct', { PID, data }).then(withDefaults(REPLY_DEFAULTS));
  }
  deleteProduct(ID: string): Promise<ReplyMsg> {
    return this.unary('AdminPortal', 'DeleteProduct', { ID }).then(withDefaults(REPLY_DEFAULTS));
  }
  createOrder(OID: string, CID: string, data: string): Promise<ReplyMsg> {
    return this.unary('OrderPortal', 'CreateOrder', { OID, CID, data }).then(withDefaults(REPLY_DEFAULTS));
  }
  retrieveOrder(ID: string): Promise<OrderMsg> {
    return this.unary('OrderPortal', 'RetrieveOrder', { ID }).then(withDefaults(ORDER_DEFAULTS));
  }
  updateOrder(OID: string, CID: string, data: string): Promise<ReplyMsg> {
    return this.unary('OrderPortal', 'UpdateOrder', { OID, CID, data }).then(withDefaults(REPLY_DEFAULTS));
  }
  deleteOrder(ID: string): Promise<ReplyMsg> {
    return this.unary('OrderPortal', 'DeleteOrder', { ID }).then(withDefaults(REPLY_DEFAULTS));
  }
  /** All orders of a client, gathered from the server stream. */
  retrieveClientOrders(ID: string): Promise<OrderMsg[]> {
    return this.serverStream('OrderPortal', 'RetrieveClientOrders', { ID }).then((orders) => orders.map(withDefaults(ORDER_DEFAULTS)));
  }
}

/** proto3 leaves empty strings and zeros off the wire; these fill them back so callers see every field. */
const REPLY_DEFAULTS: ReplyMsg = { error: 0 };
const CLIENT_DEFAULTS: ClientMsg = { CID: '', data: '' };
const PRODUCT_DEFAULTS: ProductMsg = { PID: '', data: '' };
const ORDER_DEFAULTS: OrderMsg = { OID: '', CID: '', data: '' };

function withDefaults<T extends object>(defaults: T): (message: object) => T {
  return (message) => ({ ...defaults, ...(message as Partial<T>) });
}

/**
 * A failed call, shaped as grpc-js's ServiceError (a numeric gRPC status `code` and the
 * server's `details`), so callers tell the two clients' failures apart by code alone.
 */
export class PortalCallError extends Error {
  constructor(
    readonly code: number,
    readonly details: string,
  ) {
    super(`${code} ${STATUS_NAMES[code] ?? 'UNKNOWN'}: ${details}`);
    this.name = 'PortalCallError';
  }
}

export { STATUS } from '../net/grpc/status.js';
