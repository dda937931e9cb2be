import { once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeHeaderBlock, HpackDecoder, HpackError, type HeaderField } from '../../src/net/h2/hpack.js';
import { EOS, HUFFMAN_CODES, huffmanDecode } from '../../src/net/h2/hpack-huffman.js';
import { FLAG_ACK, FLAG_END_HEADERS, FLAG_END_STREAM, frame, frameReader, FRAME_HEADERS, FRAME_RST_STREAM, FRAME_SETTINGS, headerBlocks, PREFACE } from '../helpers/h2-frames.js';
import { testSeed } from '../helpers/seed.js';

/**
 * The HPACK codec (src/net/h2/hpack.ts) against the RFC's own examples, against the encoder and
 * decoder of node:http2 (nghttp2) over real sockets, and against hostile blocks, which must end
 * in fields or an HpackError and nothing else.
 */

const hex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text.replace(/\s+/g, ''), 'hex'));

/**
 * The dynamic table, newest first, read through the decoder's public face: indexed fields leave
 * the table as it is, so each entry is asked for by index, and the index past the last must fail.
 */
function expectDynamicTable(decoder: HpackDecoder, entries: HeaderField[]): void {
  expect(decoder.decode(Uint8Array.from(entries.map((_, age) => 0x80 | (62 + age))))).toEqual(entries);
  expect(() => decoder.decode(Uint8Array.of(0x80 | (62 + entries.length)))).toThrow(HpackError);
}

interface Step {
  readonly block: string;
  readonly fields: HeaderField[];
  readonly table: HeaderField[];
}

const REQUEST_1: HeaderField[] = [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']];
const REQUEST_2: HeaderField[] = [...REQUEST_1, ['cache-control', 'no-cache']];
const REQUEST_3: HeaderField[] = [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']];
const REQUEST_TABLES: HeaderField[][] = [
  [[':authority', 'www.example.com']],
  [['cache-control', 'no-cache'], [':authority', 'www.example.com']],
  [['custom-key', 'custom-value'], ['cache-control', 'no-cache'], [':authority', 'www.example.com']],
];
const DATE_1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const DATE_2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
const LOCATION = 'https://www.example.com';
const COOKIE = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
const RESPONSE_1: HeaderField[] = [[':status', '302'], ['cache-control', 'private'], ['date', DATE_1], ['location', LOCATION]];
const RESPONSE_2: HeaderField[] = [[':status', '307'], ['cache-control', 'private'], ['date', DATE_1], ['location', LOCATION]];
const RESPONSE_3: HeaderField[] = [[':status', '200'], ['cache-control', 'private'], ['date', DATE_2], ['location', LOCATION], ['content-encoding', 'gzip'], ['set-cookie', COOKIE]];
const RESPONSE_TABLES: HeaderField[][] = [
  [['location', LOCATION], ['date', DATE_1], ['cache-control', 'private'], [':status', '302']],
  [[':status', '307'], ['location', LOCATION], ['date', DATE_1], ['cache-control', 'private']],
  [['set-cookie', COOKIE], ['content-encoding', 'gzip'], ['date', DATE_2]],
];

/** RFC 7541 Appendix C, block by block. */
const C3: Step[] = [
  { block: '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d', fields: REQUEST_1, table: REQUEST_TABLES[0]! },
  { block: '8286 84be 5808 6e6f 2d63 6163 6865', fields: REQUEST_2, table: REQUEST_TABLES[1]! },
  { block: '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65', fields: REQUEST_3, table: REQUEST_TABLES[2]! },
];
const C4: Step[] = [
  { block: '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff', fields: REQUEST_1, table: REQUEST_TABLES[0]! },
  { block: '8286 84be 5886 a8eb 1064 9cbf', fields: REQUEST_2, table: REQUEST_TABLES[1]! },
  { block: '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf', fields: REQUEST_3, table: REQUEST_TABLES[2]! },
];
const C5: Step[] = [
  {
    block: `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
            2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d`,
    fields: RESPONSE_1,
    table: RESPONSE_TABLES[0]!,
  },
  { block: '4803 3330 37c1 c0bf', fields: RESPONSE_2, table: RESPONSE_TABLES[1]! },
  {
    block: `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
            54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
            5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31`,
    fields: RESPONSE_3,
    table: RESPONSE_TABLES[2]!,
  },
];
const C6: Step[] = [
  {
    block: `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
            2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`,
    fields: RESPONSE_1,
    table: RESPONSE_TABLES[0]!,
  },
  { block: '4883 640e ffc1 c0bf', fields: RESPONSE_2, table: RESPONSE_TABLES[1]! },
  {
    block: `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
            77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
            9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
    fields: RESPONSE_3,
    table: RESPONSE_TABLES[2]!,
  },
];

function runSeries(tableSize: number, steps: Step[]): void {
  const decoder = new HpackDecoder(tableSize);
  for (const step of steps) {
    expect(decoder.decode(hex(step.block))).toEqual(step.fields);
    expectDynamicTable(decoder, step.table);
  }
}

describe('RFC 7541 Appendix C examples', () => {
  it('C.2: each kind of field representation', () => {
    const cases: Step[] = [
      { block: '400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572', fields: [['custom-key', 'custom-header']], table: [['custom-key', 'custom-header']] },
      { block: '040c 2f73 616d 706c 652f 7061 7468', fields: [[':path', '/sample/path']], table: [] },
      { block: '1008 7061 7373 776f 7264 0673 6563 7265 74', fields: [['password', 'secret']], table: [] },
      { block: '82', fields: [[':method', 'GET']], table: [] },
    ];
    for (const step of cases) runSeries(4096, [step]);
  });
  it('C.3: three requests without Huffman coding on one decoder', () => runSeries(4096, C3));
  it('C.4: the same requests with Huffman coding', () => runSeries(4096, C4));
  it('C.5: three responses evicting from a 256-byte table', () => runSeries(256, C5));
  it('C.6: the same responses with Huffman coding', () => runSeries(256, C6));
});

/** A Huffman encoder for the tests alone: the codec never needs to send Huffman-coded strings. */
function huffmanEncode(bytes: Uint8Array): Uint8Array {
  const out: number[] = [];
  let pending = 0;
  let pendingBits = 0;
  for (const byte of bytes) {
    pending = pending * 2 ** HUFFMAN_CODES.lengths[byte]! + HUFFMAN_CODES.codes[byte]!;
    pendingBits += HUFFMAN_CODES.lengths[byte]!;
    while (pendingBits >= 8) {
      pendingBits -= 8;
      out.push(Math.floor(pending / 2 ** pendingBits) & 0xff);
      pending %= 2 ** pendingBits;
    }
  }
  if (pendingBits > 0) out.push(((pending << (8 - pendingBits)) | ((1 << (8 - pendingBits)) - 1)) & 0xff);
  return Uint8Array.from(out);
}

describe('the Huffman code', () => {
  it('is a complete prefix code of 257 symbols, EOS last and all ones', () => {
    const { codes, lengths } = HUFFMAN_CODES;
    expect(codes.length).toBe(257);
    expect([codes[EOS], lengths[EOS]]).toEqual([0x3fffffff, 30]);
    // Kraft's sum, scaled by 2^30 to stay in integers: exactly 1 means no code is missing.
    let kraft = 0;
    for (const length of lengths) kraft += 2 ** (30 - length);
    expect(kraft).toBe(2 ** 30);
    for (let a = 0; a < codes.length; a++) {
      expect(codes[a]!).toBeLessThan(2 ** lengths[a]!);
      for (let b = 0; b < codes.length; b++) {
        if (a === b || lengths[a]! > lengths[b]!) continue;
        if (codes[b]! >>> (lengths[b]! - lengths[a]!) === codes[a]!) throw new Error(`code of ${a} is a prefix of the code of ${b}`);
      }
    }
  });

  it('decodes the RFC examples', () => {
    const decode = (text: string) => huffmanDecode(hex(text), 1000);
    expect(decode('f1e3 c2e5 f23a 6ba0 ab90 f4ff')).toBe('www.example.com');
    expect(decode('9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3')).toBe(LOCATION);
    expect(decode('')).toBe('');
  });

  it('decodes any byte string as it was encoded, and refuses one over its length limit (seeded)', () => {
    const seed = testSeed('decodes any byte string as it was encoded');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const encoded = huffmanEncode(bytes);
        expect(huffmanDecode(encoded, bytes.length)).toBe(Buffer.from(bytes).toString('latin1'));
        if (bytes.length > 0) expect(() => huffmanDecode(encoded, bytes.length - 1)).toThrow(/more than/);
      }),
      { seed, numRuns: 1000 },
    );
  });

  it('refuses bad padding and EOS', () => {
    // 'a' is 00011: three bits of padding remain in its byte.
    expect(huffmanDecode(Uint8Array.of(0x1f), 10)).toBe('a');
    expect(() => huffmanDecode(Uint8Array.of(0x18), 10)).toThrow(/not all 1 bits/);
    expect(() => huffmanDecode(Uint8Array.of(0x1f, 0xff), 10)).toThrow(/more than 7 bits of padding/);
    expect(() => huffmanDecode(Uint8Array.of(0xff, 0xff, 0xff, 0xff), 10)).toThrow(/EOS/);
    expect(() => huffmanDecode(Uint8Array.of(0x1f, 0xff, 0xff, 0xff, 0xff), 10)).toThrow(/EOS/);
  });
});

const sortFields = (fields: HeaderField[]): HeaderField[] =>
  [...fields].sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0));

/** Names reused across requests so nghttp2's encoder indexes, reuses and evicts table entries. */
const NAME_POOL = ['x-trace-id', 'x-user', 'user-agent', 'accept', 'authorization', 'cookie', 'grpc-timeout', 'x-a-rather-long-header-name-to-fill-the-table', 'x-b', 'content-type'];
const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)), maxLength: 200 });
const clientRequest = fc.record({
  method: fc.constantFrom('GET', 'POST'),
  path: fc.constantFrom('/', '/index.html', '/Portal/Order', '/a/b?c=d'),
  extra: fc.uniqueArray(fc.tuple(fc.constantFrom(...NAME_POOL), printable), { selector: ([name]) => name, maxLength: 6 }),
});

/** A TCP server that takes one HTTP/2 client, hands on its header blocks and refuses each stream. */
async function blockCollectingServer(onBlock: (block: Buffer) => void): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.write(frame(FRAME_SETTINGS, 0, 0));
    const toBlocks = headerBlocks((streamId, block) => {
      onBlock(block);
      // CANCEL: the client closes the stream and the test goes on to the next request.
      socket.write(frame(FRAME_RST_STREAM, 0, streamId, Uint8Array.of(0, 0, 0, 8)));
    });
    socket.on(
      'data',
      frameReader(true, (f) => {
        if (f.type === FRAME_SETTINGS && (f.flags & FLAG_ACK) === 0) socket.write(frame(FRAME_SETTINGS, FLAG_ACK, 0));
        toBlocks(f);
      }),
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

describe('the HPACK decoder against node:http2', () => {
  it('decodes exactly what the client sent over ~300 requests on one connection (seeded)', async () => {
    const seed = testSeed('decodes exactly what the client sent');
    const requests = fc.sample(fc.array(clientRequest, { minLength: 300, maxLength: 300 }), { seed, numRuns: 1 })[0]!;
    const blocks: Buffer[] = [];
    let blockArrived = (): void => undefined;
    const { server, port } = await blockCollectingServer((block) => {
      blocks.push(block);
      blockArrived();
    });
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', () => undefined);
    const decoder = new HpackDecoder();
    try {
      for (const [i, request] of requests.entries()) {
        const sent: HeaderField[] = [[':method', request.method], [':path', request.path], [':scheme', 'http'], [':authority', `127.0.0.1:${port}`], ...request.extra];
        const arrived = new Promise<void>((resolve) => (blockArrived = resolve));
        const stream = session.request(Object.fromEntries(sent), { endStream: true });
        stream.on('error', () => undefined);
        await arrived;
        const block = blocks.shift()!;
        expect(sortFields(decoder.decode(block)), `request ${i} (seed ${seed})`).toEqual(sortFields(sent));
        if (!stream.closed) await once(stream, 'close');
      }
    } finally {
      session.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }, 60_000);
});

// Values the encoder accepts: any byte but NUL, CR and LF, and no space or tab at either end.
const sendableValue = fc
  .string({ unit: fc.integer({ min: 0, max: 0xff }).map((code) => String.fromCharCode(code)), maxLength: 300 })
  .map((value) => value.replace(/[\0\r\n]/g, '').replace(/^[ \t]+|[ \t]+$/g, ''));
const sendableName = fc.oneof(
  fc.stringMatching(/^[a-z0-9!#$%&'*+.^_`|~-]{1,40}$/),
  fc.constantFrom(':method', ':path', ':authority', ':scheme', 'content-type', 'www-authenticate', 'user-agent'),
);

describe('the HPACK encoder', () => {
  it('makes blocks the decoder reads back as the same fields (seeded)', () => {
    const seed = testSeed('makes blocks the decoder reads back as the same fields');
    const decoder = new HpackDecoder(4096, 1 << 20);
    fc.assert(
      fc.property(fc.array(fc.tuple(sendableName, sendableValue), { maxLength: 20 }), (fields) => {
        expect(decoder.decode(encodeHeaderBlock(fields))).toEqual(fields);
      }),
      { seed, numRuns: 500 },
    );
  });

  it('uses static table indexes for known names and literal names otherwise', () => {
    expect(encodeHeaderBlock([[':method', 'GET']])).toEqual(Buffer.from([0x02, 0x03, ...Buffer.from('GET')]));
    // Index 58 does not fit the 4-bit prefix: 15, then 43.
    expect(encodeHeaderBlock([['user-agent', '']])).toEqual(Buffer.from([0x0f, 43, 0x00]));
    expect(encodeHeaderBlock([['x', 'y']])).toEqual(Buffer.from([0x00, 0x01, 0x78, 0x01, 0x79]));
    const long = 'v'.repeat(200);
    expect(encodeHeaderBlock([['x', long]])).toEqual(Buffer.from([0x00, 0x01, 0x78, 0x7f, 200 - 127, ...Buffer.from(long)]));
  });

  it('refuses names and values HTTP/2 forbids, naming the header but not quoting the value', () => {
    const secret = 'Bearer s3cret';
    expect(() => encodeHeaderBlock([['X-Token', secret]])).toThrow('header "X-Token" has a character HTTP/2 forbids: uppercase X');
    expect(() => encodeHeaderBlock([['x-token', `${secret}\r\nevil: 1`]])).toThrow('header "x-token" has a character HTTP/2 forbids: U+000D at position 13 of the value');
    expect(() => encodeHeaderBlock([['x-token', `${secret}\n`]])).toThrow(/U\+000A/);
    expect(() => encodeHeaderBlock([['x-token', `${secret}\0`]])).toThrow(/U\+0000/);
    expect(() => encodeHeaderBlock([['x-token', `${secret}€`]])).toThrow(/U\+20AC/);
    expect(() => encodeHeaderBlock([['x-token', `${secret} `]])).toThrow(/begins or ends with a space/);
    expect(() => encodeHeaderBlock([['x-tökén', 'v']])).toThrow('header "x-tökén" has a character HTTP/2 forbids: U+00F6 at position 3 of the name');
    expect(() => encodeHeaderBlock([['x token', 'v']])).toThrow(/U\+0020/);
    expect(() => encodeHeaderBlock([['x:y', 'v']])).toThrow(/U\+003A/);
    expect(() => encodeHeaderBlock([['', 'v']])).toThrow(/empty/);
    for (const bad of [['X-Token', secret], ['x-token', `${secret}\r\n`]] as const) {
      expect(() => encodeHeaderBlock([bad])).not.toThrow(new RegExp(secret));
    }
  });

  it('makes a request node:http2 accepts', async () => {
    const server = http2.createServer();
    const seenByServer: Array<Record<string, unknown>> = [];
    server.on('stream', (stream, headers) => {
      seenByServer.push({ ...headers });
      stream.respond({ ':status': 200, 'x-echo': String(headers['x-custom']) }, { endStream: true });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const socket = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
    socket.on('error', () => undefined);
    const decoder = new HpackDecoder();
    try {
      const reply = new Promise<HeaderField[]>((resolve, reject) => {
        const toBlocks = headerBlocks((streamId, block) => (streamId === 1 ? resolve(decoder.decode(block)) : undefined));
        socket.on(
          'data',
          frameReader(false, (f) => {
            if (f.type === FRAME_SETTINGS && (f.flags & FLAG_ACK) === 0) {
              const request = encodeHeaderBlock([[':method', 'GET'], [':scheme', 'http'], [':path', '/x'], [':authority', '127.0.0.1'], ['x-custom', 'from the HPACK encoder']]);
              socket.write(Buffer.concat([frame(FRAME_SETTINGS, FLAG_ACK, 0), frame(FRAME_HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 1, request)]));
            }
            if (f.type === FRAME_RST_STREAM || f.type === 0x7) reject(new Error(`the server refused the request: frame type ${f.type}, payload ${f.payload.toString('hex')}`));
            toBlocks(f);
          }),
        );
      });
      socket.write(Buffer.concat([PREFACE, frame(FRAME_SETTINGS, 0, 0)]));
      const fields = await reply;
      expect(seenByServer).toEqual([expect.objectContaining({ ':method': 'GET', ':scheme': 'http', ':path': '/x', ':authority': '127.0.0.1', 'x-custom': 'from the HPACK encoder' })]);
      expect(fields).toEqual(expect.arrayContaining([[':status', '200'], ['x-echo', 'from the HPACK encoder']]));
    } finally {
      socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

const LIST_LIMIT = 1024;

/** The only acceptable outcomes of a block: fields within the list limit, or an HpackError. */
function decodeOrRefuse(decoder: HpackDecoder, block: Uint8Array): boolean {
  let fields: HeaderField[];
  try {
    fields = decoder.decode(block);
  } catch (err) {
    if (!(err instanceof HpackError)) throw err;
    return false;
  }
  const listBytes = fields.reduce((sum, [name, value]) => sum + name.length + value.length + 32, 0);
  expect(listBytes).toBeLessThanOrEqual(LIST_LIMIT);
  return true;
}

/** The RFC's series and some blocks of our encoder: valid sequences to damage. */
const VALID_SERIES: Uint8Array[][] = [
  ...[C3, C4, C5, C6].map((steps) => steps.map((step) => hex(step.block))),
  [encodeHeaderBlock([[':status', '200'], ['content-type', 'application/grpc'], ['grpc-status', '0'], ['grpc-message', 'fine%20thanks']])],
];
const HUGE_INTEGERS = [Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0x0f), Uint8Array.of(0x7f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01), Uint8Array.of(0x3f, 0xff, 0xff, 0xff, 0x7f), Uint8Array.of(0x0f, 0xff, 0xff, 0xff, 0xff, 0x07)];
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.constantFrom(...HUGE_INTEGERS) }),
  fc.record({ kind: fc.constant('overwrite' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 4 }) }),
);

type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(block: Uint8Array, m: Mutation): Uint8Array {
  const at = block.length === 0 ? 0 : m.at % block.length;
  if (m.kind === 'truncate') return block.subarray(0, at);
  if (m.kind === 'insert') return Uint8Array.from([...block.subarray(0, at), ...m.bytes, ...block.subarray(at)]);
  const copy = Uint8Array.from(block);
  if (m.kind === 'flip') copy[at]! ^= 1 << m.bit;
  else copy.set(m.bytes.subarray(0, copy.length - at), at);
  return copy;
}

/** An integer with an N-bit prefix (RFC 7541 5.1), the prefix's other bits set to flags. */
function hpackInteger(value: number, prefixBits: number, flags: number): number[] {
  const prefixMax = (1 << prefixBits) - 1;
  if (value < prefixMax) return [flags | value];
  const bytes = [flags | prefixMax];
  let rest = value - prefixMax;
  for (; rest >= 0x80; rest = Math.floor(rest / 0x80)) bytes.push(0x80 | (rest & 0x7f));
  return [...bytes, rest];
}

const stringLiteral = fc.tuple(fc.boolean(), fc.uint8Array({ maxLength: 60 })).map(([huffman, bytes]) => {
  const coded = huffman ? huffmanEncode(bytes) : bytes;
  return [...hpackInteger(coded.length, 7, huffman ? 0x80 : 0), ...coded];
});
/**
 * Blocks made of well-formed representations with random indexes, strings and sizes: unlike
 * random bytes they get past the first field, so they reach eviction, repeated references to
 * large entries and the header list limit.
 */
const tableIndex = fc.oneof({ arbitrary: fc.integer({ min: 1, max: 64 }), weight: 9 }, { arbitrary: fc.integer({ min: 0, max: 200 }), weight: 1 });
const plausibleBlock = fc
  .tuple(
    fc.array(fc.integer({ min: 0, max: 400 }).map((size) => hpackInteger(size, 5, 0x20)), { maxLength: 2 }),
    fc.array(
      fc.oneof(
        tableIndex.map((index) => hpackInteger(index, 7, 0x80)),
        fc.tuple(fc.constantFrom([6, 0x40], [4, 0x00], [4, 0x10]), fc.oneof(fc.constant(0), tableIndex), stringLiteral, stringLiteral).map(([[prefixBits, flags], nameIndex, name, value]) => [
          ...hpackInteger(nameIndex, prefixBits, flags),
          ...(nameIndex === 0 ? name : []),
          ...value,
        ]),
      ),
      { maxLength: 40, size: 'max' },
    ),
  )
  .map(([sizeUpdates, fields]) => Uint8Array.from([...sizeUpdates, ...fields].flat()));

describe('the HPACK decoder against hostile blocks', () => {
  it('gives fields within the limit or an HpackError for random blocks (seeded)', () => {
    const seed = testSeed('for random blocks');
    const block = fc.oneof(fc.uint8Array({ maxLength: 120 }), plausibleBlock);
    fc.assert(
      fc.property(fc.array(block, { minLength: 1, maxLength: 5 }), (blocks) => {
        const decoder = new HpackDecoder(256, LIST_LIMIT);
        // A refused block ends the connection, so no block after it is ever decoded.
        for (const block of blocks) if (!decodeOrRefuse(decoder, block)) return;
      }),
      { seed, numRuns: 3000 },
    );
  });

  it('gives fields within the limit or an HpackError for damaged valid blocks (seeded)', () => {
    const seed = testSeed('for damaged valid blocks');
    const series = fc.constantFrom(...VALID_SERIES).chain((blocks) => fc.tuple(fc.constant(blocks), fc.nat(blocks.length - 1), fc.array(mutation, { minLength: 1, maxLength: 3 })));
    fc.assert(
      fc.property(series, ([blocks, damaged, mutations]) => {
        const decoder = new HpackDecoder(4096, LIST_LIMIT);
        for (const [i, block] of blocks.entries()) {
          const sent = i === damaged ? mutations.reduce(mutate, block) : block;
          if (!decodeOrRefuse(decoder, sent)) return;
        }
      }),
      { seed, numRuns: 3000 },
    );
  });

  it('refuses each kind of malformed block with a message saying what was wrong', () => {
    const refuses = (block: Uint8Array, message: RegExp, decoder = new HpackDecoder()) => expect(() => decoder.decode(block)).toThrow(message);
    refuses(Uint8Array.of(0x80), /index 0/);
    refuses(Uint8Array.of(0xbe), /index 62, past the 61 static and 0 dynamic entries/);
    refuses(Uint8Array.of(0x40, 0x01, 0x61, 0x01, 0x62, 0xbf), /index 63, past the 61 static and 1 dynamic entries/);
    // 31 + 98 + 31 * 128 = 4097.
    refuses(Uint8Array.of(0x3f, 0xe2, 0x1f), /size update to 4097 bytes exceeds the limit of 4096/);
    refuses(Uint8Array.of(0x82, 0x20), /size update comes after a header field/);
    // A literal name 'a' Huffman-coded with zero padding, then with EOS after it.
    refuses(Uint8Array.of(0x00, 0x81, 0x18, 0x00), /padding that is not all 1 bits/);
    refuses(Uint8Array.of(0x00, 0x85, 0x1f, 0xff, 0xff, 0xff, 0xff, 0x00), /EOS/);
    refuses(Uint8Array.of(0x00, 0x82, 0x1f, 0xff, 0x00), /more than 7 bits of padding/);
    refuses(Uint8Array.of(0xff, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00), /more than 5 continuation bytes/);
    refuses(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0x0f), /integer exceeds 2147483647/);
    refuses(Uint8Array.of(0x40, 0x0a, 0x63, 0x75), /ends in the middle of a field/);
    refuses(Uint8Array.of(0xff), /ends in the middle of a field/);
    refuses(Uint8Array.of(0x00, 0x01, 0x61, 0x7f), /ends in the middle of a field/);
  });

  it('bounds the header list, even when fields repeat one table entry', () => {
    const value = 'v'.repeat(200);
    const entry = encodeHeaderBlock([['x', value]]);
    entry[0] = 0x40; // with incremental indexing: the entry goes into the table
    const decoder = new HpackDecoder(4096, 1000);
    expect(decoder.decode(entry)).toEqual([['x', value]]);
    // Each reference costs 1 byte to send and 233 to hold; the fifth passes 1000.
    expect(decoder.decode(Uint8Array.of(0xbe, 0xbe, 0xbe, 0xbe))).toHaveLength(4);
    expect(() => decoder.decode(Uint8Array.of(0xbe, 0xbe, 0xbe, 0xbe, 0xbe))).toThrow(/header list exceeds 1000 bytes/);
    // A string longer than the room left is refused before it is decoded.
    expect(() => new HpackDecoder(4096, 100).decode(encodeHeaderBlock([['x', value]]))).toThrow(/header list exceeds 100 bytes/);
    const huffmanValue = huffmanEncode(Buffer.from(value));
    expect(() => new HpackDecoder(4096, 100).decode(Uint8Array.from([0x00, 0x01, 0x78, 0xff, huffmanValue.length - 127, ...huffmanValue]))).toThrow(/more than/);
  });

  it('keeps entries within the announced table size and demands the update after a lower limit', () => {
    const decoder = new HpackDecoder(4096);
    const big = encodeHeaderBlock([['x', 'y'.repeat(100)]]);
    big[0] = 0x40;
    decoder.decode(big);
    decoder.decode(big);
    expectDynamicTable(decoder, [['x', 'y'.repeat(100)], ['x', 'y'.repeat(100)]]);
    decoder.setMaxTableSize(200);
    expect(() => decoder.decode(Uint8Array.of(0x82))).toThrow(/does not begin with the table size update/);
    const shrunk = new HpackDecoder(4096);
    shrunk.decode(big);
    shrunk.decode(big);
    shrunk.setMaxTableSize(200);
    // Size update to 150 (31 + 119): the older entry (133 bytes each) goes.
    expect(shrunk.decode(Uint8Array.of(0x3f, 0x77, 0x82))).toEqual([[':method', 'GET']]);
    expectDynamicTable(shrunk, [['x', 'y'.repeat(100)]]);
    expect(() => shrunk.decode(Uint8Array.of(0x3f, 0xaa, 0x01))).toThrow(/size update to 201 bytes exceeds the limit of 200/);
  });
});
