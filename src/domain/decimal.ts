/**
 * Exact decimal arithmetic for prices and order totals. Prices are kept as the text the
 * client wrote; totals are computed on scaled big integers so `0.1 * 3` is `0.3`, never
 * `0.30000000000000004`.
 */

/** A plain non-negative decimal as the API stores it: digits, optionally a point and digits. */
const PLAIN_DECIMAL = /^\d+(\.\d+)?$/;
/** A JSON number lexeme, which may carry a sign and an exponent. */
const NUMBER_LEXEME = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

export const PRICE_MAX_INTEGER_DIGITS = 30;
export const PRICE_MAX_FRACTION_DIGITS = 18;

export interface ScaledDecimal {
  units: bigint;
  scale: number;
}

export function isPlainDecimal(text: string): boolean {
  return PLAIN_DECIMAL.test(text);
}

/**
 * Turns a JSON number lexeme into a plain decimal text, keeping the digits as written when
 * there is no exponent ("2.50" stays "2.50"). Returns undefined for negatives and for values
 * beyond the price limits (an exponent like 1e999999 must not allocate a million digits).
 */
export function plainDecimalFromNumberLexeme(lexeme: string): string | undefined {
  const m = NUMBER_LEXEME.exec(lexeme);
  if (!m) return undefined;
  const [, sign, intPart = '', fracPart = '', expText] = m;
  const isZero = /^0*$/.test(intPart + fracPart);
  if (sign === '-' && !isZero) return undefined;
  if (expText === undefined) return sign === '-' ? lexeme.slice(1) : lexeme;
  const exponent = Number(expText);
  if (!Number.isSafeInteger(exponent) || Math.abs(exponent) > PRICE_MAX_INTEGER_DIGITS + PRICE_MAX_FRACTION_DIGITS) {
    return isZero ? '0' : undefined;
  }
  const digits = intPart + fracPart;
  const pointAt = intPart.length + exponent;
  let whole: string;
  let fraction: string;
  if (pointAt <= 0) {
    whole = '0';
    fraction = '0'.repeat(-pointAt) + digits;
  } else if (pointAt >= digits.length) {
    whole = digits + '0'.repeat(pointAt - digits.length);
    fraction = '';
  } else {
    whole = digits.slice(0, pointAt);
    fraction = digits.slice(pointAt);
  }
  whole = whole.replace(/^0+(?=\d)/, '');
  fraction = fraction.replace(/0+$/, '');
  return fraction.length > 0 ? `${whole}.${fraction}` : whole;
}

export function withinPriceLimits(plain: string): boolean {
  const [whole = '', fraction = ''] = plain.split('.');
  return whole.length <= PRICE_MAX_INTEGER_DIGITS && fraction.length <= PRICE_MAX_FRACTION_DIGITS;
}

export function parseScaled(plain: string): ScaledDecimal {
  if (!isPlainDecimal(plain)) throw new Error(`not a plain decimal: ${JSON.stringify(plain)}`);
  const [whole = '0', fraction = ''] = plain.split('.');
  return { units: BigInt(whole + fraction), scale: fraction.length };
}

function rescale(value: ScaledDecimal, scale: number): bigint {
  return value.units * 10n ** BigInt(scale - value.scale);
}

export function formatScaled(value: ScaledDecimal): string {
  if (value.scale === 0) return value.units.toString();
  const digits = value.units.toString().padStart(value.scale + 1, '0');
  return `${digits.slice(0, -value.scale)}.${digits.slice(-value.scale)}`;
}

/**
 * Sum of price × quantity, written with as many decimal places as the price with the most
 * ("2.50" × 3 → "7.50", "3" × 6 → "18"); "0" for no lines.
 */
export function orderTotal(lines: ReadonlyArray<{ price: string; quantity: number }>): string {
  const scaled = lines.map((line) => ({ price: parseScaled(line.price), quantity: BigInt(line.quantity) }));
  const scale = scaled.reduce((max, line) => Math.max(max, line.price.scale), 0);
  const units = scaled.reduce((sum, line) => sum + rescale(line.price, scale) * line.quantity, 0n);
  return formatScaled({ units, scale });
}
