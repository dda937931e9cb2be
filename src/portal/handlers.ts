import type { CallError, StreamCall, UnaryCall, UnaryCallback } from '../net/grpc/calls.js';
import { STATUS } from '../net/grpc/status.js';
import type { Command, Reply } from '../domain/commands.js';
import { isValidId, NOT_FOUND_ID } from '../domain/ids.js';
import { message, render, type Lang } from '../domain/messages.js';
import { recordData, type RecordKind, type RecordOfKind } from '../domain/records.js';
import type { Logger } from '../util/log.js';
import { StoreUnavailableError, type Backend } from '../domain/backend.js';
import type { ClientMsg, IdMsg, OrderMsg, ProductMsg, ReplyMsg } from './messages.js';
import { NOT_APPLIED } from '../domain/store-replies.js';
import { clientOrders } from '../domain/client-orders.js';

/**
 * The gRPC methods of AdminPortal and OrderPortal: each turns a request into a command or a
 * read, and the answer back into a proto message. No business rule lives here.
 */
export interface PortalContext {
  readonly backend: Backend;
  readonly lang: Lang;
  readonly log: Logger;
}

type Unary<Req, Res> = (call: UnaryCall<Req>, callback: UnaryCallback<Res>) => void;

/** A service's handlers by method name, as the gRPC server takes them. */
export type PortalHandlers = Record<string, (call: never, callback: never) => void>;

function toReplyMsg(reply: Reply, lang: Lang): ReplyMsg {
  return reply.code === 0 ? { error: 0 } : { error: reply.code, description: render(reply.message, lang) };
}

/**
 * proto3 leaves fields at their default value ("" or 0) off the wire, and the original's
 * Python server did; protobufjs writes any field that is set, so defaults are removed here
 * to keep replies byte-identical.
 */
function wire<T extends object>(message: T): T {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(message)) if (value !== '' && value !== 0 && value !== undefined) out[key] = value;
  return out as T;
}

function writeHandler<Req>(ctx: PortalContext, toCommand: (req: Req) => Command): Unary<Req, ReplyMsg> {
  return (call, callback) => {
    const command = toCommand(call.request);
    ctx.backend.execute(command).then(
      (reply) => {
        if (reply.code === 500) ctx.log.error({ command: command.op, reply }, 'internal error');
        callback(null, wire(toReplyMsg(reply, ctx.lang)));
      },
      (err: unknown) => {
        ctx.log.error({ err, command: command.op }, 'write failed unexpectedly');
        const detail = err instanceof Error ? err.message : String(err);
        callback(null, wire(toReplyMsg({ code: 500, message: message('internalError', { detail }) }, ctx.lang)));
      },
    );
  };
}

function readError(ctx: PortalContext, err: unknown, what: string): CallError {
  const unavailable = err instanceof StoreUnavailableError;
  if (!unavailable) ctx.log.error({ err, what }, 'read failed unexpectedly');
  const status = unavailable ? STATUS.unavailable : STATUS.internal;
  const text = unavailable
    ? render(NOT_APPLIED.message, ctx.lang)
    : render(message('internalError', { detail: err instanceof Error ? err.message : String(err) }), ctx.lang);
  return { code: status, details: text };
}

async function readRecord<K extends RecordKind>(ctx: PortalContext, kind: K, id: string): Promise<RecordOfKind<K> | undefined> {
  return isValidId(id) ? ctx.backend.read(kind, id) : undefined;
}

function readHandler<K extends RecordKind, Res extends object>(
  ctx: PortalContext,
  kind: K,
  found: (id: string, record: RecordOfKind<K>) => Res,
  notFound: Res,
): Unary<IdMsg, Res> {
  return (call, callback) => {
    const id = call.request.ID ?? '';
    readRecord(ctx, kind, id).then(
      (record) => callback(null, wire(record === undefined ? notFound : found(id, record))),
      (err: unknown) => callback(readError(ctx, err, `${kind} ${id}`)),
    );
  };
}

export function adminPortalHandlers(ctx: PortalContext): PortalHandlers {
  return {
    CreateClient: writeHandler<ClientMsg>(ctx, (r) => ({ op: 'CreateClient', cid: r.CID ?? '', data: r.data ?? '' })),
    RetrieveClient: readHandler(ctx, 'client', (CID, record): ClientMsg => ({ CID, data: recordData(record) }), {
      CID: NOT_FOUND_ID,
      data: '',
    }),
    UpdateClient: writeHandler<ClientMsg>(ctx, (r) => ({ op: 'UpdateClient', cid: r.CID ?? '', data: r.data ?? '' })),
    DeleteClient: writeHandler<IdMsg>(ctx, (r) => ({ op: 'DeleteClient', cid: r.ID ?? '' })),
    CreateProduct: writeHandler<ProductMsg>(ctx, (r) => ({ op: 'CreateProduct', pid: r.PID ?? '', data: r.data ?? '' })),
    RetrieveProduct: readHandler(ctx, 'product', (PID, record): ProductMsg => ({ PID, data: recordData(record) }), {
      PID: NOT_FOUND_ID,
      data: '',
    }),
    UpdateProduct: writeHandler<ProductMsg>(ctx, (r) => ({ op: 'UpdateProduct', pid: r.PID ?? '', data: r.data ?? '' })),
    DeleteProduct: writeHandler<IdMsg>(ctx, (r) => ({ op: 'DeleteProduct', pid: r.ID ?? '' })),
  };
}

export function orderPortalHandlers(ctx: PortalContext): PortalHandlers {
  const retrieveClientOrders = (call: StreamCall<IdMsg>) => {
    const cid = call.request.ID ?? '';
    streamClientOrders(ctx, cid, call).then(
      () => call.end(),
      (err: unknown) => call.destroy(readError(ctx, err, `orders of client ${cid}`)),
    );
  };
  return {
    CreateOrder: writeHandler<OrderMsg>(ctx, (r) => ({ op: 'CreateOrder', oid: r.OID ?? '', cid: r.CID ?? '', data: r.data ?? '' })),
    RetrieveOrder: readHandler(ctx, 'order', (OID, record): OrderMsg => ({ OID, CID: record.cid, data: recordData(record) }), {
      OID: NOT_FOUND_ID,
      CID: NOT_FOUND_ID,
      data: '',
    }),
    UpdateOrder: writeHandler<OrderMsg>(ctx, (r) => ({ op: 'UpdateOrder', oid: r.OID ?? '', cid: r.CID ?? '', data: r.data ?? '' })),
    DeleteOrder: writeHandler<IdMsg>(ctx, (r) => ({ op: 'DeleteOrder', oid: r.ID ?? '' })),
    RetrieveClientOrders: retrieveClientOrders,
  };
}

/** Resolves when the stream can take more, or when the client has gone (then nothing more is written). */
function writable(call: StreamCall<IdMsg>): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      call.off('drain', done).off('cancelled', done).off('close', done);
      resolve();
    };
    call.on('drain', done).on('cancelled', done).on('close', done);
  });
}

/**
 * One message per order of the client, in creation order; none for an unknown client. Orders
 * are read a page at a time and each is written only once the stream has room, so a client
 * with 100,000 orders costs one page of memory, and a slow reader slows the reads down.
 */
async function streamClientOrders(ctx: PortalContext, cid: string, call: StreamCall<IdMsg>): Promise<void> {
  const client = await readRecord(ctx, 'client', cid);
  if (client === undefined) return;
  for await (const [oid, order] of clientOrders(ctx.backend, cid, client)) {
    if (call.cancelled) return;
    const ok = call.write(wire({ OID: oid, CID: order.cid, data: recordData(order) }));
    if (!ok) await writable(call);
  }
}
