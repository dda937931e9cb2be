import { LeanGrpcChannel } from '../client/lean-grpc.js';
import { PortalCallError, STATUS } from '../client/portal-calls.js';
import { encodeFields, type FieldSpec } from '../portal/api-codec.js';

/** etcd's v3 API method the bench's durable put calls (etcd fsyncs its WAL before answering it). */
export const PUT_PATH = '/etcdserverpb.KV/Put';

/**
 * etcd puts through lean gRPC channels (src/client/lean-grpc.ts), one per endpoint, the calls
 * spread over them in turn as the etcd3 client balances them. The bench drives etcd through
 * this so that both systems of the comparison are measured with a load generator of about the
 * same cost: the etcd3 client runs on grpc-js, whose CPU per call is several times this one's,
 * and on this machine the load generator's CPU is taken from the system it measures.
 */
export class LeanEtcdPuts {
  private readonly channels: LeanGrpcChannel[];
  private turn = 0;

  constructor(endpoints: readonly string[], timeout_ms: number) {
    if (endpoints.length === 0) throw new Error('etcd: no endpoint to put to');
    this.channels = endpoints.map((endpoint) => {
      const url = new URL(endpoint);
      if (url.protocol !== 'http:') throw new Error(`etcd endpoint ${endpoint}: the bench's lean client talks plain http:// only`);
      return new LeanGrpcChannel({ host: url.hostname, port: Number(url.port || 2379), timeout_ms });
    });
  }

  async put(key: string, value: string): Promise<void> {
    const channel = this.channels[this.turn++ % this.channels.length]!;
    const replies = await channel.call(PUT_PATH, putRequest(key, value));
    // A PutResponse (its header, and no previous value, which was not asked for).
    if (replies.length !== 1) throw new PortalCallError(STATUS.internal, `${PUT_PATH} from ${channel.address}: ${replies.length} messages in a unary reply`);
  }

  close(): void {
    for (const channel of this.channels) channel.close();
  }
}

/**
 * etcdserverpb.PutRequest's key (1) and value (2): bytes fields, which a string field encodes
 * the same way (length-delimited); the rest (lease, prev_kv, ...) left unset.
 */
const PUT_REQUEST: readonly FieldSpec[] = [
  { name: 'key', number: 1, type: 'string' },
  { name: 'value', number: 2, type: 'string' },
];

export function putRequest(key: string, value: string): Buffer {
  return encodeFields('etcdserverpb.PutRequest', PUT_REQUEST, { key, value });
}
