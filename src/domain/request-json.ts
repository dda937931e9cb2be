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

export function parseRequestJson(text: string): ParseResult {
  const size_bytes = Buffer.byteLength(text, 'utf8');
  if (size_bytes > LIMITS.dataMaxBytes) return { ok: false, detail: message('detailTooLarge', { max: LIMITS.dataMaxBytes }) };
  if (exceedsDepth(text, LIMITS.jsonMaxDepth)) {
    return { ok: false, detail: message('detailTooDeep', { max: LIMITS.jsonMaxDepth }) };
  }
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
