import type { MethodDefinition } from '@grpc/grpc-js';

/**
 * The messages and services of `proto/api.proto` written out by hand, with their protobuf
 * encoding, for the client side (`ecom admin`, `ecom order` and every test and bench client).
 *
 * Loading protobufjs and parsing the .proto text cost a one-shot command about 90 ms of its
 * ~300 ms (issue #18: a one-shot command under 250 ms). The file holds five messages of
 * string and int32 fields, so the encoding is a few lines; test/portal/api-codec.test.ts
 * checks this table against the .proto as protobufjs parses it, and the bytes against
 * protobufjs's, so the two cannot drift apart. The servers keep protobufjs: they also serve
 * reflection, which needs the full descriptors.
 *
 * Decoded messages hold only the fields present on the wire, as @grpc/proto-loader gives them
 * with `defaults: false` (see LOADER_OPTIONS in proto.ts).
 */
export const COURSE_PACKAGE = 'project';

export type FieldType = 'string' | 'int32';

export interface FieldSpec {
  readonly name: string;
  readonly number: number;
  readonly type: FieldType;
}

export const API_MESSAGES: Readonly<Record<string, readonly FieldSpec[]>> = {
  Client: [
    { name: 'CID', number: 1, type: 'string' },
    { name: 'data', number: 2, type: 'string' },
  ],
  Product: [
    { name: 'PID', number: 1, type: 'string' },
    { name: 'data', number: 2, type: 'string' },
  ],
  Order: [
    { name: 'OID', number: 1, type: 'string' },
    { name: 'CID', number: 2, type: 'string' },
    { name: 'data', number: 3, type: 'string' },
  ],
  Reply: [
    { name: 'error', number: 1, type: 'int32' },
    { name: 'description', number: 2, type: 'string' },
  ],
  ID: [{ name: 'ID', number: 1, type: 'string' }],
};

export interface MethodSpec {
  readonly request: string;
  readonly response: string;
  readonly responseStream?: true;
}

export const API_SERVICES: Readonly<Record<'AdminPortal' | 'OrderPortal', Readonly<Record<string, MethodSpec>>>> = {
  AdminPortal: {
    CreateClient: { request: 'Client', response: 'Reply' },
    RetrieveClient: { request: 'ID', response: 'Client' },
    UpdateClient: { request: 'Client', response: 'Reply' },
    DeleteClient: { request: 'ID', response: 'Reply' },
    CreateProduct: { request: 'Product', response: 'Reply' },
    RetrieveProduct: { request: 'ID', response: 'Product' },
    UpdateProduct: { request: 'Product', response: 'Reply' },
    DeleteProduct: { request: 'ID', response: 'Reply' },
  },
  OrderPortal: {
    CreateOrder: { request: 'Order', response: 'Reply' },
    RetrieveOrder: { request: 'ID', response: 'Order' },
    UpdateOrder: { request: 'Order', response: 'Reply' },
    DeleteOrder: { request: 'ID', response: 'Reply' },
    RetrieveClientOrders: { request: 'ID', response: 'Order', responseStream: true },
  },
};

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_BYTES = 2;
const WIRE_FIXED32 = 5;

function fieldsOf(message: string): readonly FieldSpec[] {
  const fields = API_MESSAGES[message];
  if (fields === undefined) throw new Error(`proto/api.proto has no message ${message}`);
  return fields;
}

/** `value` as a base-128 varint; an int32 below zero takes ten bytes, as protobuf sign-extends it to 64 bits. */
function varintBytes(value: number): number[] {
  const out: number[] = [];
  if (value < 0) {
    let v = BigInt.asUintN(64, BigInt(value));
    for (; v > 0x7fn; v >>= 7n) out.push(Number(v & 0x7fn) | 0x80);
    out.push(Number(v));
    return out;
  }
  let v = value;
  for (; v > 0x7f; v = Math.floor(v / 128)) out.push((v & 0x7f) | 0x80);
  out.push(v);
  return out;
}

/** Every field present (not undefined or null) is written, empty or zero included, as protobufjs does. */
export function encodeMessage(message: string, value: Readonly<Record<string, unknown>>): Buffer {
  return encodeFields(message, fieldsOf(message), value);
}

/**
 * `value`'s fields as protobuf bytes, by the field table given: encodeMessage's for api.proto, or
 * another API's message of string (length-delimited, so bytes fields too) and int32 fields.
 */
export function encodeFields(message: string, fields: readonly FieldSpec[], value: Readonly<Record<string, unknown>>): Buffer {
  const parts: Buffer[] = [];
  for (const field of fields) {
    const v = value[field.name];
    if (v === undefined || v === null) continue;
    if (field.type === 'int32') {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31) throw new TypeError(`${message}.${field.name}: an int32 expected, got ${typeof v === 'number' ? v : typeof v}`);
      parts.push(Buffer.from([...varintBytes((field.number << 3) | WIRE_VARINT), ...varintBytes(v)]));
    } else {
      if (typeof v !== 'string') throw new TypeError(`${message}.${field.name}: a string expected, got ${typeof v}`);
      const bytes = Buffer.from(v, 'utf8');
      parts.push(Buffer.from([...varintBytes((field.number << 3) | WIRE_BYTES), ...varintBytes(bytes.length)]), bytes);
    }
  }
  return Buffer.concat(parts);
}

/** Reads protobuf bytes; unknown fields are skipped, a truncated or malformed message throws. */
export function decodeMessage(message: string, bytes: Buffer): Record<string, string | number> {
  const fields = fieldsOf(message);
  const out: Record<string, string | number> = {};
  let at = 0;
  /** The low 32 bits of a varint of up to 10 bytes, unsigned (all an int32, a length or a tag needs). */
  const varint = (): number => {
    let low = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      if (at >= bytes.length) throw new Error(`${message}: truncated varint`);
      const b = bytes[at++]!;
      if (shift < 32) low = (low | ((b & 0x7f) << shift)) >>> 0;
      if ((b & 0x80) === 0) return low;
    }
    throw new Error(`${message}: varint longer than 10 bytes`);
  };
  const skip = (n: number) => {
    if (at + n > bytes.length) throw new Error(`${message}: truncated field`);
    at += n;
  };
  while (at < bytes.length) {
    const tag = varint();
    const [number, wire] = [tag >>> 3, tag & 7];
    const field = fields.find((f) => f.number === number);
    if (field?.type === 'int32' && wire === WIRE_VARINT) out[field.name] = varint() | 0;
    else if (field?.type === 'string' && wire === WIRE_BYTES) {
      const length = varint();
      skip(length);
      out[field.name] = bytes.toString('utf8', at - length, at);
    } else if (wire === WIRE_VARINT) varint();
    else if (wire === WIRE_FIXED64) skip(8);
    else if (wire === WIRE_BYTES) skip(varint());
    else if (wire === WIRE_FIXED32) skip(4);
    else throw new Error(`${message}: field ${number} has wire type ${wire}, which api.proto never uses`);
  }
  return out;
}

/** grpc-js's definition of one service, under the original's name or the course's `project.` one. */
export function serviceDefinition(service: keyof typeof API_SERVICES, pkg: '' | typeof COURSE_PACKAGE): Record<string, MethodDefinition<object, object>> {
  const methods: Record<string, MethodDefinition<object, object>> = {};
  for (const [name, spec] of Object.entries(API_SERVICES[service])) {
    methods[name] = {
      path: `/${pkg === '' ? '' : `${pkg}.`}${service}/${name}`,
      requestStream: false,
      responseStream: spec.responseStream === true,
      requestSerialize: (value: object) => encodeMessage(spec.request, value as Record<string, unknown>),
      requestDeserialize: (bytes: Buffer) => decodeMessage(spec.request, bytes),
      responseSerialize: (value: object) => encodeMessage(spec.response, value as Record<string, unknown>),
      responseDeserialize: (bytes: Buffer) => decodeMessage(spec.response, bytes),
    };
  }
  return methods;
}
