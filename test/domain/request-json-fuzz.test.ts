// Request data is read on every replica for every entry it applies, so two builds must read the
// same text alike: the fast reading of plain string objects (flatStringObject) has to give
// exactly what lossless-json gives, or leave the text to it. Checked here against lossless-json
// itself, on texts built near every edge of the fast path's grammar.
import { parse } from 'lossless-json';
import { describe, expect, it } from 'vitest';
import { message } from '../../src/domain/messages.js';
import { flatStringObject, JsonNumber, parseRequestJson, type ParseResult, type RequestJson } from '../../src/domain/request-json.js';
import { Prng } from '../../src/util/random.js';
import { testSeed } from '../helpers/seed.js';

/** What parseRequestJson answered before the fast path, for text within its size and depth limits. */
function throughLosslessJson(text: string): ParseResult {
  try {
    return { ok: true, value: parse(text, null, (lexeme) => new JsonNumber(lexeme)) as RequestJson };
  } catch (err) {
    return { ok: false, detail: message('detailMalformedJson', { reason: (err as Error).message }) };
  }
}

/** Own keys in order, each value's type and prototype: what toStrictEqual leaves unsaid. */
function shape(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const proto: unknown = Object.getPrototypeOf(value);
  const kind = proto === Object.prototype ? 'Object' : proto === Array.prototype ? 'Array' : proto === JsonNumber.prototype ? 'JsonNumber' : 'other';
  return { kind, keys: Reflect.ownKeys(value), values: Object.values(value).map(shape) };
}

const KEYS = ['name', 'price', 'quantity', 'x', '', 'constructor', 'toString', 'hasOwnProperty', '__proto__', 'a b', 'é', '😀', '\ud83d', 'na\\"me', 'na\\u006de', 'n\\name'];
const VALUES = ['Ana', '', 'Caneta', '2.50', ' spaced ', 'é', '😀', '\ude00', 'a\\nb', 'a\\"b', '\\u0041', 'tab\there', 'nul\u0000', 'bell\u0007'];
const SPACES = ['', ' ', '  ', '\t', '\n', '\r\n', '\u00a0', '\u2028', '\ufeff', '\u000b'];
const OTHER_VALUES = ['8', '-1', '2.50', '1e3', 'true', 'false', 'null', '[]', '{}', '["a"]', '{"n": "v"}', '"unclosed', "'single'"];

function flatObjectText(r: Prng): string {
  const space = () => (r.chance(0.9) ? r.pick(SPACES.slice(0, 6)) : r.pick(SPACES));
  const pairs = Array.from({ length: r.int(5) }, () => {
    const key = r.chance(0.8) ? r.pick(KEYS.slice(0, 8)) : r.pick(KEYS);
    const value = r.chance(0.1) ? r.pick(OTHER_VALUES) : `"${r.chance(0.8) ? r.pick(VALUES.slice(0, 7)) : r.pick(VALUES)}"`;
    return `${space()}"${key}"${space()}:${space()}${value}${space()}`;
  });
  let text = `${space()}{${pairs.join(',')}${pairs.length === 0 ? space() : ''}}${space()}`;
  // Now and then, a slip: a character dropped, doubled or replaced.
  if (r.chance(0.3) && text.length > 0) {
    const at = r.int(text.length);
    const slip = r.pick(['', text[at]!.repeat(2), ',', ':', '"', '}', '{', '\\', ' ']);
    text = text.slice(0, at) + slip + text.slice(at + 1);
  }
  return text;
}

describe('request JSON: the fast path for plain string objects', () => {
  it('request json fuzz, seeded: reads every text exactly as lossless-json does, or leaves it to it', () => {
    const seed = testSeed('request json fuzz');
    const r = new Prng(seed);
    let fast = 0;
    const rounds = 20_000;
    for (let round = 0; round < rounds; round++) {
      const text = flatObjectText(r);
      const label = `seed ${seed}, round ${round}, text ${JSON.stringify(text)}`;
      const expected = throughLosslessJson(text);
      const flat = flatStringObject(text);
      if (flat !== undefined) {
        fast++;
        expect(expected.ok, label).toBe(true);
        expect(shape(flat), label).toEqual(shape(expected.ok ? expected.value : undefined));
      }
      // Compared by shape, not toStrictEqual, which would take an own key "constructor" for the object's type.
      const got = parseRequestJson(text);
      expect(got.ok, label).toBe(expected.ok);
      if (got.ok) expect(shape(got.value), label).toEqual(shape(expected.ok ? expected.value : undefined));
      else expect(got, label).toEqual(expected);
    }
    // The generator must reach both sides of the fast path's edge, or the check above says little.
    expect(fast, `texts read by the fast path, of ${rounds}`).toBeGreaterThan(rounds / 5);
    expect(rounds - fast, 'texts left to lossless-json').toBeGreaterThan(rounds / 5);
  });

  it('takes the client data the original sends, and leaves what it must', () => {
    expect(flatStringObject('{"name": "Ana"}')).toEqual({ name: 'Ana' });
    expect(flatStringObject(' { } ')).toEqual({});
    expect(flatStringObject('{"name": "Ana", "name": "Ana"}'), 'a key repeated with its value: lossless-json keeps one').toEqual({ name: 'Ana' });
    expect(flatStringObject('{"name": "Ana", "name": "Bia"}'), 'lossless-json refuses it, naming the key').toBeUndefined();
    expect(flatStringObject('{"__proto__": "x"}')).toBeUndefined();
    expect(flatStringObject('{"name": "A\\u006ea"}'), 'an escape').toBeUndefined();
    expect(flatStringObject('{"price": 2.50}'), 'a number keeps its lexeme through lossless-json').toBeUndefined();
    expect(flatStringObject('{"name": "Ana"}\u00a0'), 'not JSON whitespace').toBeUndefined();
    expect(flatStringObject('{"name": "Ana"')).toBeUndefined();
    expect(flatStringObject('{"name": "Ana",}')).toBeUndefined();
  });
});
