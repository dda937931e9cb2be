import * as grpc from '@grpc/grpc-js';
import { COURSE_PACKAGE, serviceDefinition } from '../portal/api-codec.js';
import type { ClientMsg, IdMsg, OrderMsg, ProductMsg, ReplyMsg } from '../portal/messages.js';
import { defined } from '../util/assert.js';

/**
 * A promise-based client for AdminPortal and OrderPortal, used by the command-line clients,
 * the tests and the benchmarks. `pkg: 'project'` talks to the course's package names.
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

type UnaryMethod = (request: object, metadata: grpc.Metadata, options: grpc.CallOptions, callback: (err: grpc.ServiceError | null, response?: unknown) => void) => grpc.ClientUnaryCall;

/** A stub class for one portal service; the messages are encoded by api-codec.ts, without loading protobufjs. */
function constructorFor(service: 'AdminPortal' | 'OrderPortal', pkg: '' | typeof COURSE_PACKAGE): grpc.ServiceClientConstructor {
  return grpc.makeClientConstructor(serviceDefinition(service, pkg) as grpc.ServiceDefinition, `${pkg === '' ? '' : `${pkg}.`}${service}`);
}

export class PortalClient {
  readonly address: string;
  private readonly admin: grpc.Client;
  private readonly order: grpc.Client;
  private readonly timeout_ms: number;
  private readonly token: string | undefined;

  constructor(options: PortalClientOptions) {
    this.address = `${options.host}:${options.port}`;
    const pkg = options.pkg ?? '';
    this.token = options.token;
    const credentials = options.tlsCa === undefined ? grpc.credentials.createInsecure() : grpc.credentials.createSsl(options.tlsCa);
    // No channelz: grpc-js's per-call introspection, which nothing reads, costs CPU on every call.
    this.admin = new (constructorFor('AdminPortal', pkg))(this.address, credentials, { 'grpc.enable_channelz': 0 });
    this.order = new (constructorFor('OrderPortal', pkg))(this.address, credentials, {
      // Share the connection with the admin stub.
      channelOverride: this.admin.getChannel() as grpc.Channel,
    });
    this.timeout_ms = options.timeout_ms ?? 10_000;
  }

  private unary<Res>(client: grpc.Client, method: string, request: object): Promise<Res> {
    const fn = (client as unknown as Record<string, UnaryMethod>)[method];
    if (fn === undefined) throw new Error(`no method ${method}`);
    return new Promise((resolve, reject) => {
      fn.call(client, request, this.metadata(), { deadline: Date.now() + this.timeout_ms }, (err, response) => {
        if (err) reject(err);
        else resolve(response as Res);
      });
    });
  }

  private metadata(): grpc.Metadata {
    const metadata = new grpc.Metadata();
    // Per call rather than as call credentials: grpc-js sends those only over TLS, and a token without TLS is the user's choice to make.
    if (this.token !== undefined) metadata.set('authorization', `Bearer ${this.token}`);
    return metadata;
  }

  createClient(CID: string, data: string): Promise<ReplyMsg> {
    return this.unary<ReplyMsg>(this.admin, 'CreateClient', { CID, data }).then(withDefaults<ReplyMsg>({ error: 0 }));
  }
  retrieveClient(ID: string): Promise<ClientMsg> {
    return this.unary<ClientMsg>(this.admin, 'RetrieveClient', { ID }).then(withDefaults({ CID: '', data: '' }));
  }
  updateClient(CID: string, data: string): Promise<ReplyMsg> {
    return this.unary<ReplyMsg>(this.admin, 'UpdateClient', { CID, data }).then(withDefaults<ReplyMsg>({ error: 0 }));
  }
  deleteClient(ID: string): Promise<ReplyMsg> {
    return this.unary<ReplyMsg>(this.admin, 'DeleteClient', { ID }).then(withDefaults<ReplyMsg>({ error: 0 }));
  }
  createProduct(PID: string, data: string): Promise<ReplyMsg> {
    return this.unary<ReplyMsg>(this.admin, 'CreateProduct', { PID, data }).then(withDefaults<ReplyMsg>({ error: 0 }));
  }
  retrieveProduct(ID: string): Promise<ProductMsg> {
    return this.unary<ProductMsg>(this.admin, 'RetrieveProduct', { ID }).then(withDefaults({ PID: '', data: '' }));
  }
  updateProduct(PID: string, data: string): Promise<ReplyMsg> {
    return this.unary<ReplyMsg>(this.admin, 'UpdateProduct', { PID, data }).then(withDefaults<ReplyMsg>({ error: 0 }));
  }
  deleteProduct(ID: string): Promise<ReplyMsg> {
    return this.unary<ReplyMsg>(this.admin, 'DeleteProduct', { ID }).then(withDefaults<ReplyMsg>({ error: 0 }));
  }
  createOrder(OID: string, CID: string, data: string): Promise<ReplyMsg> {
    return this.unary<ReplyMsg>(this.order, 'CreateOrder', { OID, CID, data }).then(withDefaults<ReplyMsg>({ error: 0 }));
  }
  retrieveOrder(ID: string): Promise<OrderMsg> {
    return this.unary<OrderMsg>(this.order, 'RetrieveOrder', { ID }).then(withDefaults({ OID: '', CID: '', data: '' }));
  }
  updateOrder(OID: string, CID: string, data: string): Promise<ReplyMsg> {
    return this.unary<ReplyMsg>(this.order, 'UpdateOrder', { OID, CID, data }).then(withDefaults<ReplyMsg>({ error: 0 }));
  }
  deleteOrder(ID: string): Promise<ReplyMsg> {
    return this.unary<ReplyMsg>(this.order, 'DeleteOrder', { ID }).then(withDefaults<ReplyMsg>({ error: 0 }));
  }

  /** All orders of a client, gathered from the server stream. */
  retrieveClientOrders(ID: string): Promise<OrderMsg[]> {
    const stubs = this.order as unknown as Record<string, (req: IdMsg, metadata: grpc.Metadata, options: grpc.CallOptions) => grpc.ClientReadableStream<OrderMsg>>;
    const method = defined(stubs.RetrieveClientOrders, 'the RetrieveClientOrders stub of the loaded proto');
    const stream = method.call(this.order, { ID }, this.metadata(), { deadline: Date.now() + this.timeout_ms });
    const orders: OrderMsg[] = [];
    return new Promise((resolve, reject) => {
      stream.on('data', (order: OrderMsg) => orders.push(withDefaults({ OID: '', CID: '', data: '' })(order)));
      stream.on('error', reject);
      stream.on('end', () => resolve(orders));
    });
  }

  /** Resolves once connected; rejects with a clear error if the server is not there in time. */
  waitForReady(timeout_ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.admin.waitForReady(Date.now() + timeout_ms, (err) => {
        if (err) reject(new Error(`no portal server answers at ${this.address} (${err.message})`));
        else resolve();
      });
    });
  }

  close(): void {
    this.admin.close();
    this.order.close();
  }
}

/** proto3 leaves empty strings off the wire; fill them back so callers see every field. */
function withDefaults<T extends object>(defaults: T): (message: Partial<T>) => T {
  return (message) => ({ ...defaults, ...message });
}
