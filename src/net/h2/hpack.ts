import { HpackError } from './hpack-error.js';
import { huffmanDecode } from './hpack-huffman.js';

export { HpackError } from './hpack-error.js';

/** A header field as HTTP/2 carries it: name and value are byte strings, one char per byte (latin1). */
export type HeaderField = [name: string, value: string];

/** RFC 7541 Appendix A. HPACK index 1 is the first entry. */
const STATIC_TABLE: ReadonlyArray<readonly [string, string]> = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];
const STATIC_ENTRIES = STATIC_TABLE.length;

/** What an entry costs in the dynamic table and in the header list, beyond its bytes (RFC 7541 4.1). */
const ENTRY_OVERHEAD = 32;
/** Larger integers are refused: no field, index or table size a peer may send needs more. */
const MAX_INTEGER = 2 ** 31 - 1;
/** Enough 7-bit groups for MAX_INTEGER; more can only be padding meant to make the decoder loop. */
const MAX_CONTINUATION_BYTES = 5;

const NO_BYTES = Buffer.alloc(0);

function truncated(): HpackError {
  return new HpackError('the header block ends in the middle of a field');
}

/**
 * The decoder's half of the dynamic table (RFC 7541 2.3.2): a ring of the newest entries, evicted
 * oldest first as their sizes exceed the table's maximum. Every entry costs at least 32 bytes, so
 * the ring never needs more than maxSize / 32 slots and is allocated once.
 */
class DynamicTable {
  private names: string[] = [];
  private values: string[] = [];
  /** Slot of the newest entry. */
  private newest = -1;
  count = 0;
  size = 0;
  maxSize: number;

  constructor(maxSize: number) {
    this.maxSize = maxSize;
    this.reserve(maxSize);
  }

  /** Makes room for as many entries as a table of maxSize bytes can hold, keeping the ones held. */
  reserve(maxSize: number): void {
    const slots = Math.floor(maxSize / ENTRY_OVERHEAD) + 1;
    if (slots <= this.names.length) return;
    const names = new Array<string>(slots).fill('');
    const values = new Array<string>(slots).fill('');
    for (let age = this.count - 1, slot = 0; age >= 0; age--, slot++) {
      names[slot] = this.nameAt(age);
      values[slot] = this.valueAt(age);
    }
    this.names = names;
    this.values = values;
    this.newest = this.count - 1;
  }

  /** Age 0 is the newest entry, HPACK index 62. */
  nameAt(age: number): string {
    return this.names[(this.newest - age + this.names.length) % this.names.length]!;
  }

  valueAt(age: number): string {
    return this.values[(this.newest - age + this.values.length) % this.values.length]!;
  }

  add(name: string, value: string): void {
    const entrySize = name.length + value.length + ENTRY_OVERHEAD;
    // An entry larger than the whole table empties it and is not kept (RFC 7541 4.4).
    this.evictDownTo(this.maxSize - entrySize);
    if (entrySize > this.maxSize) return;
    this.newest = (this.newest + 1) % this.names.length;
    this.names[this.newest] = name;
    this.values[this.newest] = value;
    this.count++;
    this.size += entrySize;
  }

  resize(maxSize: number): void {
    this.maxSize = maxSize;
    this.evictDownTo(maxSize);
  }

  private evictDownTo(targetSize: number): void {
    while (this.count > 0 && this.size > targetSize) {
      const oldest = (this.newest - this.count + 1 + this.names.length) % this.names.length;
      this.size -= this.names[oldest]!.length + this.values[oldest]!.length + ENTRY_OVERHEAD;
      // Dropped so that a long evicted value can be collected.
      this.names[oldest] = '';
      this.values[oldest] = '';
      this.count--;
    }
  }
}

/**
 * Decodes the header blocks of one HTTP/2 connection, in the order they arrive (RFC 7541). Any
 * malformed or over-limit block throws HpackError; the connection must then be closed, since the
 * dynamic table can no longer be trusted to match the peer's.
 */
export class HpackDecoder {
  private readonly table: DynamicTable;
  /** The SETTINGS_HEADER_TABLE_SIZE this side announced: the peer's table may not be larger. */
  private tableSizeLimit: number;
  /** Set when the limit fell below the table's size: the next block must begin by shrinking it. */
  private sizeUpdateRequired = false;
  private readonly maxHeaderListBytes: number;
  // The block being decoded, held in fields rather than passed around so that reading an integer
  // or a string allocates nothing but the string.
  private block: Uint8Array = NO_BYTES;
  private text: Buffer = NO_BYTES;
  private position = 0;
  private listBytes = 0;

  constructor(maxTableSize = 4096, maxHeaderListBytes = 64 * 1024) {
    checkSize('maxTableSize', maxTableSize);
    checkSize('maxHeaderListBytes', maxHeaderListBytes);
    this.tableSizeLimit = maxTableSize;
    this.table = new DynamicTable(maxTableSize);
    this.maxHeaderListBytes = maxHeaderListBytes;
  }

  /**
   * Changes the table size limit, as a new SETTINGS_HEADER_TABLE_SIZE does. Call it when the peer
   * acknowledges the SETTINGS frame that carried it: blocks the peer encoded before then still
   * follow the old limit. A lower limit than the table's current size obliges the peer to begin
   * its next block with a size update (RFC 7541 4.2), and a block that does not is refused.
   */
  setMaxTableSize(limit: number): void {
    checkSize('maxTableSize', limit);
    this.tableSizeLimit = limit;
    this.table.reserve(limit);
    if (this.table.maxSize > limit) this.sizeUpdateRequired = true;
  }

  /** The fields of one complete header block (a HEADERS frame and its CONTINUATIONs), in order. */
  decode(block: Uint8Array): HeaderField[] {
    this.block = block;
    this.text = Buffer.isBuffer(block) ? block : Buffer.from(block.buffer, block.byteOffset, block.byteLength);
    this.position = 0;
    this.listBytes = 0;
    const fields: HeaderField[] = [];
    try {
      if (this.sizeUpdateRequired && (block.length === 0 || (block[0]! & 0xe0) !== 0x20)) {
        throw new HpackError(`the header block does not begin with the table size update a limit of ${this.tableSizeLimit} bytes requires`);
      }
      while (this.position < block.length) this.decodeRepresentation(fields);
    } finally {
      // Not kept: the caller's buffer may be large or reused.
      this.block = NO_BYTES;
      this.text = NO_BYTES;
    }
    return fields;
  }

  private decodeRepresentation(fields: HeaderField[]): void {
    const first = this.block[this.position]!;
    if ((first & 0x80) !== 0) {
      const index = this.readInteger(7);
      fields.push(this.field(this.nameAt(index), this.valueAt(index)));
    } else if ((first & 0xc0) === 0x40) {
      const field = this.readLiteral(6);
      this.table.add(field[0], field[1]);
      fields.push(field);
    } else if ((first & 0xe0) === 0x20) {
      // A size update belongs before the first field (RFC 7541 4.2).
      if (fields.length > 0) throw new HpackError('a dynamic table size update comes after a header field');
      const size = this.readInteger(5);
      if (size > this.tableSizeLimit) throw new HpackError(`a dynamic table size update to ${size} bytes exceeds the limit of ${this.tableSizeLimit}`);
      this.table.resize(size);
      this.sizeUpdateRequired = false;
    } else {
      // Without indexing (0000) and never indexed (0001) decode alike: the difference is only
      // what a proxy may do with the field.
      fields.push(this.readLiteral(4));
    }
  }

  /** A literal field whose name is an index (when the prefix holds one) or a string. */
  private readLiteral(prefixBits: number): HeaderField {
    const nameIndex = this.readInteger(prefixBits);
    const name = nameIndex === 0 ? this.readString(this.remainingListBytes(0)) : this.nameAt(nameIndex);
    const value = this.readString(this.remainingListBytes(name.length));
    return this.field(name, value);
  }

  /** How many more bytes a string may have, given the list so far and the rest of its field. */
  private remainingListBytes(otherBytesOfField: number): number {
    return Math.max(0, this.maxHeaderListBytes - this.listBytes - ENTRY_OVERHEAD - otherBytesOfField);
  }

  /** Counts a field against the header list limit (sized as in SETTINGS_MAX_HEADER_LIST_SIZE). */
  private field(name: string, value: string): HeaderField {
    this.listBytes += name.length + value.length + ENTRY_OVERHEAD;
    if (this.listBytes > this.maxHeaderListBytes) throw this.listTooLong();
    return [name, value];
  }

  private listTooLong(): HpackError {
    return new HpackError(`the decoded header list exceeds ${this.maxHeaderListBytes} bytes`);
  }

  private nameAt(index: number): string {
    if (index > 0 && index <= STATIC_ENTRIES) return STATIC_TABLE[index - 1]![0];
    return this.table.nameAt(this.dynamicAge(index));
  }

  private valueAt(index: number): string {
    if (index > 0 && index <= STATIC_ENTRIES) return STATIC_TABLE[index - 1]![1];
    return this.table.valueAt(this.dynamicAge(index));
  }

  private dynamicAge(index: number): number {
    if (index === 0) throw new HpackError('a field refers to table index 0, which HPACK reserves');
    const age = index - STATIC_ENTRIES - 1;
    if (age >= this.table.count) {
      throw new HpackError(`a field refers to table index ${index}, past the ${STATIC_ENTRIES} static and ${this.table.count} dynamic entries`);
    }
    return age;
  }

  /** An integer with an N-bit prefix (RFC 7541 5.1), the prefix's other bits ignored. */
  private readInteger(prefixBits: number): number {
    const block = this.block;
    if (this.position >= block.length) throw truncated();
    const prefixMax = (1 << prefixBits) - 1;
    let value = block[this.position++]! & prefixMax;
    if (value < prefixMax) return value;
    for (let continuation = 0; continuation < MAX_CONTINUATION_BYTES; continuation++) {
      if (this.position >= block.length) throw truncated();
      const byte = block[this.position++]!;
      value += (byte & 0x7f) * 2 ** (7 * continuation);
      if (value > MAX_INTEGER) throw new HpackError(`an integer exceeds ${MAX_INTEGER}`);
      if ((byte & 0x80) === 0) return value;
    }
    throw new HpackError(`an integer has more than ${MAX_CONTINUATION_BYTES} continuation bytes`);
  }

  /** A string literal (RFC 7541 5.2) of at most maxLength bytes once decoded. */
  private readString(maxLength: number): string {
    if (this.position >= this.block.length) throw truncated();
    const huffman = (this.block[this.position]! & 0x80) !== 0;
    const length = this.readInteger(7);
    const start = this.position;
    if (length > this.block.length - start) throw truncated();
    this.position = start + length;
    if (huffman) return huffmanDecode(this.block.subarray(start, start + length), maxLength);
    if (length > maxLength) throw this.listTooLong();
    return this.text.toString('latin1', start, start + length);
  }
}

function checkSize(what: string, bytes: number): void {
  if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError(`${what} must be a whole number of bytes, not ${bytes}`);
}

/** The lowest index of each name in the static table, for the encoder's indexed names. */
const STATIC_NAME_INDEX: ReadonlyMap<string, number> = new Map(
  STATIC_TABLE.map(([name], i) => [name, i + 1] as const).reverse(),
);

/**
 * Encodes fields into a header block with no compression state: each field is a literal "without
 * indexing" (RFC 7541 6.2.2), its name given as a static table index when the table has it (so
 * :method, :path, content-type cost a byte) and as a raw string otherwise, and its value as a raw
 * string. Nothing is added to the peer's dynamic table, so blocks may be encoded in any order and
 * the encoder needs no table of its own; Huffman coding is left out because the caller's fields
 * are short and mostly fixed.
 *
 * Throws an Error naming the header when a name or value could not be sent (RFC 9113 8.2.1).
 * Values are never quoted in the message: one of them may be a user's token.
 */
export function encodeHeaderBlock(fields: ReadonlyArray<readonly [string, string]>): Buffer {
  let length = 0;
  for (const [name, value] of fields) {
    checkName(name);
    checkValue(name, value);
    const nameIndex = STATIC_NAME_INDEX.get(name);
    length += nameIndex === undefined ? 1 + integerLength(name.length, 7) + name.length : integerLength(nameIndex, 4);
    length += integerLength(value.length, 7) + value.length;
  }
  const block = Buffer.allocUnsafe(length);
  let position = 0;
  for (const [name, value] of fields) {
    const nameIndex = STATIC_NAME_INDEX.get(name);
    if (nameIndex === undefined) {
      block[position++] = 0x00;
      position = writeString(block, position, name);
    } else {
      position = writeInteger(block, position, nameIndex, 4, 0x00);
    }
    position = writeString(block, position, value);
  }
  return block;
}

/** The bytes an integer takes with an N-bit prefix (RFC 7541 5.1). */
function integerLength(value: number, prefixBits: number): number {
  const prefixMax = (1 << prefixBits) - 1;
  if (value < prefixMax) return 1;
  let bytes = 2;
  for (let rest = value - prefixMax; rest >= 0x80; rest = Math.floor(rest / 0x80)) bytes++;
  return bytes;
}

function writeInteger(block: Buffer, position: number, value: number, prefixBits: number, flags: number): number {
  const prefixMax = (1 << prefixBits) - 1;
  if (value < prefixMax) {
    block[position++] = flags | value;
    return position;
  }
  block[position++] = flags | prefixMax;
  let rest = value - prefixMax;
  for (; rest >= 0x80; rest = Math.floor(rest / 0x80)) block[position++] = 0x80 | (rest & 0x7f);
  block[position++] = rest;
  return position;
}

/** A raw (not Huffman-coded) string literal; its chars were checked to be single bytes. */
function writeString(block: Buffer, position: number, text: string): number {
  position = writeInteger(block, position, text.length, 7, 0x00);
  return position + block.write(text, position, 'latin1');
}

function forbidden(name: string, what: string): Error {
  return new Error(`header ${JSON.stringify(name)} has a character HTTP/2 forbids: ${what}`);
}

function describeChar(code: number): string {
  return `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** Lowercase tokens only; a colon only to begin a pseudo-header. */
function checkName(name: string): void {
  if (name.length === 0) throw new Error('a header name is empty, which HTTP/2 forbids');
  for (let i = 0; i < name.length; i++) {
    const code = name.charCodeAt(i);
    if (code >= 0x41 && code <= 0x5a) throw forbidden(name, `uppercase ${name[i]} in the name (names must be lowercase)`);
    if (code <= 0x20 || code >= 0x7f || (code === 0x3a && i > 0)) throw forbidden(name, `${describeChar(code)} at position ${i} of the name`);
  }
}

/** Any byte but NUL, CR and LF, and no space or tab at either end. */
function checkValue(name: string, value: string): void {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code === 0x00 || code === 0x0a || code === 0x0d || code > 0xff) throw forbidden(name, `${describeChar(code)} at position ${i} of the value`);
  }
  if (/^[ \t]|[ \t]$/.test(value)) throw forbidden(name, 'the value begins or ends with a space or tab');
}
