import fc from 'fast-check';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import type { MethodDefinition } from '@grpc/proto-loader';
import { API_MESSAGES, API_SERVICES, decodeMessage, encodeMessage, serviceDefinition } from '../../src/portal/api-codec.js';
import { API_PROTO_PATH, apiPackageDefinition } from '../../src/portal/proto.js';
import { testSeed } from '../helpers/seed.js';

/**
 * The clients' hand-written table and encoding of proto/api.proto (src/portal/api-codec.ts)
 * against protobufjs reading the .proto itself, which the servers use: the same messages,
 * fields and methods, the same bytes, the same decoded objects.
 */
const root = protobuf.loadSync(API_PROTO_PATH, new protobuf.Root());

/** What protobufjs (through @grpc/proto-loader, as the servers load it) makes of a message's bytes. */
function protobufjsMethod(service: string, method: string): MethodDefinition<object, object> {
  return (apiPackageDefinition()[service] as unknown as Record<string, MethodDefinition<object, object>>)[method]!;
}

describe('api-codec: proto/api.proto written out for the clients', () => {
  it('has every message, field and method of proto/api.proto, and nothing else', () => {
    const messages = Object.fromEntries(
      root.nestedArray.filter((n): n is protobuf.Type => n instanceof protobuf.Type).map((t) => [t.name, t.fieldsArray.map((f) => ({ name: f.name, number: f.id, type: f.type }))]),
    );
    expect(API_MESSAGES).toEqual(messages);
    const services = Object.fromEntries(
      root.nestedArray
        .filter((n): n is protobuf.Service => n instanceof protobuf.Service)
        .map((s) => [s.name, Object.fromEntries(s.methodsArray.map((m) => [m.name, { request: m.requestType, response: m.responseType, ...(m.responseStream === true ? { responseStream: true } : {}) }]))]),
    );
    expect(API_SERVICES).toEqual(services);
    for (const pkg of ['', 'project'] as const) {
      for (const service of ['AdminPortal', 'OrderPortal'] as const) {
        const name = pkg === '' ? service : `${pkg}.${service}`;
        for (const [method, ours] of Object.entries(serviceDefinition(service, pkg))) {
          const theirs = protobufjsMethod(name, method);
          expect({ path: ours.path, requestStream: ours.requestStream, responseStream: ours.responseStream }).toEqual({ path: theirs.path, requestStream: theirs.requestStream, responseStream: theirs.responseStream });
        }
      }
    }
  });

  const name = 'api-codec encodes and decodes as protobufjs does';
  it(name, () => {
    const seed = testSeed(name);
    const text = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.constant(''), fc.string({ minLength: 200, maxLength: 400 }));
    const valueOf = (type: string) => (type === 'int32' ? fc.oneof(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.constantFrom(0, -1, 127, 128, 16_383, 16_384)) : text);
    const methods = Object.entries(API_SERVICES).flatMap(([service, ms]) => Object.entries(ms).map(([method, spec]) => ({ service, method, spec })));
    const call = fc.constantFrom(...methods).chain(({ service, method, spec }) => {
      const messageOf = (message: string) => fc.record(Object.fromEntries(API_MESSAGES[message]!.map((f) => [f.name, valueOf(f.type)])), { requiredKeys: [] });
      return fc.record({ service: fc.constant(service), method: fc.constant(method), spec: fc.constant(spec), request: messageOf(spec.request), response: messageOf(spec.response) });
    });
    fc.assert(
      fc.property(call, ({ service, method, spec, request, response }) => {
        const theirs = protobufjsMethod(service, method);
        // The same bytes both ways, and each side decodes the other's bytes to the same object.
        const requestBytes = encodeMessage(spec.request, request);
        expect(requestBytes).toEqual(theirs.requestSerialize(request));
        expect(decodeMessage(spec.request, requestBytes)).toEqual(theirs.requestDeserialize(requestBytes));
        const responseBytes = theirs.responseSerialize(response);
        expect(encodeMessage(spec.response, response)).toEqual(responseBytes);
        expect(decodeMessage(spec.response, responseBytes)).toEqual(theirs.responseDeserialize(responseBytes));
        expect(decodeMessage(spec.response, responseBytes)).toEqual(response);
      }),
      { seed, numRuns: 500 },
    );
  });

  it('skips fields it does not know and refuses truncated bytes', () => {
    // Field 9 as a varint, a fixed64, bytes and a fixed32, then CID = "7".
    const unknown = Buffer.from([0x48, 0x96, 0x01, 0x49, 1, 2, 3, 4, 5, 6, 7, 8, 0x4a, 0x02, 0x61, 0x62, 0x4d, 1, 2, 3, 4, 0x0a, 0x01, 0x37]);
    expect(decodeMessage('Client', unknown)).toEqual({ CID: '7' });
    expect(() => decodeMessage('Client', Buffer.from([0x0a, 0x05, 0x61]))).toThrow(/truncated/);
    expect(() => decodeMessage('Reply', Buffer.from([0x08, 0xff]))).toThrow(/truncated varint/);
    expect(() => encodeMessage('Reply', { error: 1.5 })).toThrow(/int32/);
    expect(() => encodeMessage('Client', { CID: 7 })).toThrow(/string/);
  });
});
