import { describe, expect, it } from 'vitest';
import { orderTotal, plainDecimalFromNumberLexeme } from '../../src/domain/decimal.js';
import { readPrice, readQuantity } from '../../src/domain/input.js';
import { JsonNumber } from '../../src/domain/request-json.js';

describe('exact decimals', () => {
  it.each([
    [[{ price: '2.50', quantity: 3 }], '7.50'],
    [[{ price: '2.5', quantity: 3 }], '7.5'],
    [[{ price: '3', quantity: 6 }], '18'],
    [[], '0'],
    [[{ price: '0.1', quantity: 3 }], '0.3'],
    [[{ price: '0.10', quantity: 1 }, { price: '0.2', quantity: 1 }], '0.30'],
    [[{ price: '0.001', quantity: 1 }], '0.001'],
  ])('total of %j is %s', (lines, total) => {
    expect(orderTotal(lines)).toBe(total);
  });

  it('stays exact far beyond floating point', () => {
    // 99999999999999999999.99 × (2^53 − 1), the expected figure is Python's decimal module's answer.
    expect(orderTotal([{ price: '99999999999999999999.99', quantity: 9007199254740991 }])).toBe('900719925474099099999909928007452590.09');
  });

  it.each([
    ['2.50', '2.50'],
    ['1250', '1250'],
    ['1e3', '1000'],
    ['1.5E-3', '0.0015'],
    ['-0', '0'],
    ['-0.0', '0.0'],
    ['-1', undefined],
    ['1e999999', undefined],
    ['0e999999', '0'],
  ])('number lexeme %s reads as price %s', (lexeme, plain) => {
    expect(plainDecimalFromNumberLexeme(lexeme)).toBe(plain);
  });

  it('reads prices and quantities as the spec says', () => {
    expect(readPrice('2.50')).toBe('2.50');
    expect(readPrice(new JsonNumber('2.50'))).toBe('2.50');
    expect(readPrice('2.')).toBeUndefined();
    expect(readPrice(' 2')).toBeUndefined();
    expect(readPrice('1'.repeat(31))).toBeUndefined();
    expect(readQuantity('8')).toBe(8);
    expect(readQuantity(new JsonNumber('5.0'))).toBe(5);
    expect(readQuantity(new JsonNumber('5.9'))).toBeUndefined();
    expect(readQuantity('5.0')).toBeUndefined();
    expect(readQuantity(new JsonNumber('9007199254740991'))).toBe(9007199254740991);
    expect(readQuantity(new JsonNumber('9007199254740992'))).toBeUndefined();
    expect(readQuantity(true)).toBeUndefined();
  });
});
