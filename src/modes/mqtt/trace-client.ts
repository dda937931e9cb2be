import mqtt from 'mqtt';
import { decodeTraceReply, DEFAULT_TOPIC_PREFIX, encode, topics, type TraceReply } from './protocol.js';
import { newId } from './replica.js';

/**
 * Asks every portal on a broker for its stage timings since the last request (each request
 * starts a new window), for `ecom bench --trace`: publishes one request on the trace topic and
 * gathers the answers until `expected` portals have answered or `timeout_ms` has passed.
 */
export async function readMqttTraces(brokerUrl: string, options: { expected: number; timeout_ms: number; topicPrefix?: string }): Promise<TraceReply[]> {
  const t = topics(options.topicPrefix ?? DEFAULT_TOPIC_PREFIX);
  const nonce = newId();
  const client = await mqtt.connectAsync(brokerUrl, { protocolVersion: 4, clean: true, clientId: `ecom-trace-${nonce}`, reconnectPeriod: 0, connectTimeout: options.timeout_ms });
  try {
    const replies = new Map<string, TraceReply>();
    const done = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, options.timeout_ms);
      client.on('message', (_topic, payload) => {
        const reply = decodeTraceReply(payload);
        if ('error' in reply || reply.n !== nonce) return;
        replies.set(reply.from, reply);
        if (replies.size >= options.expected) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    await client.subscribeAsync(t.traceReplyFor(nonce), { qos: 1 });
    await client.publishAsync(t.trace, encode({ n: nonce }), { qos: 1 });
    await done;
    return [...replies.values()];
  } finally {
    await client.endAsync(true);
  }
}
