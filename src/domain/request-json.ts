import { parse } from 'lossless-json';
import { LIMITS } from './limits.js';
import { message, type Message } from './messages.js';

/**
 * A JSON number kept as the exact text the client wrote, so a price "2.50" given as a
 * number stays "2.50" and an integer beyond 2^53 is seen as what it is, not rounded.
 */
export class JsonNumber {
  constructor(readonly lexeme: string) {}
}

export type RequestJson = string | boolean | null | JsonNumber | RequestJson[] | { [key: string]: RequestJson };

export type ParseResult = { ok: true; value: RequestJson } | { ok: false; detail: Message };

/**
 * Nesting depth is measured before parsing: the parser recurses, and a 64 KiB request of
 * `[[[[...` would otherwise exhaust the stack.
 */
function exceedsDepth(text: string, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c /* \ */) i++;
      else if (ch === 0x22 /* " */) inString = false;
    } else if (ch === 0x22) inString = true;
    else if (ch === 0x5b /* [ */ || ch === 0x7b /* { */) {
      if (++depth > maxDepth) return true;
    } else if (ch === 0x5d /* ] */ || ch === 0x7d /* } */) depth--;
  }
  return false;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** JSON's whitespace, and lossless-json's: space, tab, line feed, carriage return. */
function isJsonSpace(code: number): boolean {
  return code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d;
}

/**
 * The commonest request data, an object of plain strings (`{"name": "Ana"}`), read without
 * lossless-json; undefined for anything else, which lossless-json then reads. Every replica
 * reads the data of every entry it applies, and lossless-json makes a score of closures per
 * parse and builds each string a character at a time: a sixth of all a storage process
 * allocated at 512 writes in flight. Only text that lossless-json reads to exactly this object
 * is taken here: strings with no escape and no control character, JSON's four whitespace
 * characters, no number, no nesting; a key twice goes back to lossless-json unless it repeats
 * the same value (which lossless-json keeps once), and so does `__proto__`, which it defines
 * specially (test/domain/request-json-fuzz.test.ts checks the two agree, seeded).
 */
export function flatStringObject(text: string): { [key: string]: string } | undefined {
  let i = spaceEnd(text, 0);
  if (text.charCodeAt(i) !== 0x7b /* { */) return undefined;
  i = spaceEnd(text, i + 1);
  const object: { [key: string]: string } = {};
  if (text.charCodeAt(i) !== 0x7d /* } */) {
    for (;;) {
      const keyEnd = plainStringEnd(text, i);
      if (keyEnd < 0) return undefined;
      const key = text.slice(i + 1, keyEnd);
      if (key === '__proto__') return undefined;
      i = spaceEnd(text, keyEnd + 1);
      if (text.charCodeAt(i) !== 0x3a /* : */) return undefined;
      i = spaceEnd(text, i + 1);
      const valueEnd = plainStringEnd(text, i);
      if (valueEnd < 0) return undefined;
      const value = text.slice(i + 1, valueEnd);
      if (!Object.hasOwn(object, key)) object[key] = value;
      else if (object[key] !== value) return undefined;
      i = spaceEnd(text, valueEnd + 1);
      if (text.charCodeAt(i) !== 0x2c /* , */) break;
      i = spaceEnd(text, i + 1);
    }
    if (text.charCodeAt(i) !== 0x7d) return undefined;
  }
  return spaceEnd(text, i + 1) === text.length ? object : undefined;
}

/** Past the whitespace from i on. */
function spaceEnd(text: string, i: number): number {
  while (isJsonSpace(text.charCodeAt(i))) i++;
  return i;
}

/** Where the string opening at i ends (its closing quote), if it is plain: no escape, no control character. Else -1. */
function plainStringEnd(text: string, i: number): number {
  if (text.charCodeAt(i) !== QUOTE) return -1;
  for (let at = i + 1; ; at++) {
    const code = text.charCodeAt(at);
    // NaN past the end of the text: the string never closes.
    if (Number.isNaN(code) || code < 0x20 || code === BACKSLASH) return -1;
    if (code === QUOTE) return at;
  }
}

export function parseRequestJson(text: string): ParseResult {
  const size_bytes = Buffer.byteLength(text, 'utf8');
  if (size_bytes > LIMITS.dataMaxBytes) return { ok: false, detail: message('detailTooLarge', { max: LIMITS.dataMaxBytes }) };
  if (exceedsDepth(text, LIMITS.jsonMaxDepth)) {
    return { ok: false, detail: message('detailTooDeep', { max: LIMITS.jsonMaxDepth }) };
  }
  const flat = flatStringObject(text);
  if (flat !== undefined) return { ok: true, value: flat };
  try {
    return { ok: true, value: parse(text, null, (lexeme) => new JsonNumber(lexeme)) as RequestJson };
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return { ok: false, detail: message('detailMalformedJson', { reason }) };
  }
}

export function isJsonObject(value: RequestJson): value is { [key: string]: RequestJson } {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof JsonNumber);
}

/** Own-property lookup: request JSON may carry keys like "__proto__". */
export function field(obj: { [key: string]: RequestJson }, name: string): RequestJson | undefined {
  return Object.hasOwn(obj, name) ? obj[name] : undefined;
}
