/**
 * JSON text formatted exactly as Python's `json.dumps` does with its defaults
 * (`", "` and `": "` separators, `ensure_ascii=True`). The original's clients compare reply
 * strings byte for byte, so the formatting is part of the wire contract.
 */
export type PyJsonValue = string | number | boolean | null | PyJsonValue[] | { [key: string]: PyJsonValue };

const SHORT_ESCAPES: Record<string, string> = {
  '"': '\\"',
  '\\': '\\\\',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\b': '\\b',
  '\f': '\\f',
};

/** Python escapes everything outside printable ASCII (space to `~`) as `\uXXXX`, in lower-case hex. */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\u007f-\uffff]/g;

export function pyString(text: string): string {
  return (
    '"' +
    text.replace(NEEDS_ESCAPE, (ch) => SHORT_ESCAPES[ch] ?? '\\u' + ch.charCodeAt(0).toString(16).padStart(4, '0')) +
    '"'
  );
}

export function pyDumps(value: PyJsonValue): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return pyString(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isSafeInteger(value)) throw new Error(`pyDumps: only safe integers are supported, got ${value}`);
      return String(value);
    default:
      break;
  }
  if (Array.isArray(value)) return '[' + value.map(pyDumps).join(', ') + ']';
  return '{' + Object.entries(value).map(([k, v]) => pyString(k) + ': ' + pyDumps(v)).join(', ') + '}';
}
