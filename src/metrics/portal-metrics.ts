import { Counter, Histogram } from 'prom-client';
import { LATENCY_BUCKETS_S, type MetricsRegistry } from './registry.js';

/** gRPC status code names, as go-grpc-prometheus labels them. */
const GRPC_CODES = ['OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'];

export type GrpcType = 'unary' | 'server_stream' | 'client_stream' | 'bidi_stream';

/** One method's children, looked up once: a call then costs no label hashing. */
export interface MethodMetrics {
  started(): void;
  handled(code: number, seconds: number): void;
  /** The application's reply code (Reply.error: 0 ok, 400, 404, 500, 503) of a write. */
  replied(code: number): void;
}

/**
 * A portal's metrics, named as go-grpc-prometheus names them so existing dashboards and
 * alerts apply: `grpc_server_handled_total` and `grpc_server_handling_seconds`, plus the
 * application's reply codes, which gRPC reports as OK.
 */
export class PortalMetrics {
  private readonly started: Counter<'grpc_type' | 'grpc_service' | 'grpc_method'>;
  private readonly handledTotal: Counter<'grpc_type' | 'grpc_service' | 'grpc_method' | 'grpc_code'>;
  private readonly handling: Histogram<'grpc_type' | 'grpc_service' | 'grpc_method'>;
  private readonly replies: Counter<'grpc_service' | 'grpc_method' | 'code'>;

  constructor(registry: MetricsRegistry) {
    const registers = [registry];
    const labelNames = ['grpc_type', 'grpc_service', 'grpc_method'] as const;
    this.started = new Counter({ name: 'grpc_server_started_total', help: 'RPCs started on the server', labelNames, registers });
    this.handledTotal = new Counter({ name: 'grpc_server_handled_total', help: 'RPCs completed on the server, by gRPC status code', labelNames: [...labelNames, 'grpc_code'], registers });
    this.handling = new Histogram({ name: 'grpc_server_handling_seconds', help: 'Time from an RPC\'s arrival to its status being sent', labelNames, buckets: LATENCY_BUCKETS_S, registers });
    this.replies = new Counter({ name: 'ecom_portal_replies_total', help: 'Application reply codes of the write RPCs (Reply.error: 0 ok, 400 refused, 404 not found, 500 internal, 503 storage unavailable)', labelNames: ['grpc_service', 'grpc_method', 'code'], registers });
  }

  /** The metrics of the method at `path` ("/package.Service/Method"). */
  method(path: string, type: GrpcType): MethodMetrics {
    const [, qualified = '', method = ''] = /^\/(.*)\/([^/]*)$/.exec(path) ?? [];
    const labels = { grpc_type: type, grpc_service: qualified, grpc_method: method };
    const started = this.started.labels(labels);
    const timer = this.handling.labels(labels);
    const byCode = new Map<number, Counter.Internal>();
    const replyByCode = new Map<number, Counter.Internal>();
    return {
      started: () => started.inc(),
      handled: (code, seconds) => {
        let counter = byCode.get(code);
        if (counter === undefined) {
          counter = this.handledTotal.labels({ ...labels, grpc_code: GRPC_CODES[code] ?? String(code) });
          byCode.set(code, counter);
        }
        counter.inc();
        timer.observe(seconds);
      },
      replied: (code) => {
        let counter = replyByCode.get(code);
        if (counter === undefined) {
          counter = this.replies.labels({ grpc_service: qualified, grpc_method: method, code: String(code) });
          replyByCode.set(code, counter);
        }
        counter.inc();
      },
    };
  }
}
