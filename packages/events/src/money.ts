import { z } from 'zod';

/** An ISO 4217 code: three upper-case letters. */
export const currencySchema = z
  .string()
  .regex(/^[A-Z]{3}$/, 'must be an ISO 4217 currency code such as "EUR"');

/** Money is an integer count of the currency's minor unit (cents for EUR), never a float. */
export const minorUnitsSchema = z.int().nonnegative().max(Number.MAX_SAFE_INTEGER);

/** ISO 4217 minor-unit exponents that differ from the usual 2. */
const exponents: Record<string, number> = {
  BHD: 3,
  BIF: 0,
  CLP: 0,
  DJF: 0,
  GNF: 0,
  IQD: 3,
  ISK: 0,
  JOD: 3,
  JPY: 0,
  KMF: 0,
  KRW: 0,
  KWD: 3,
  LYD: 3,
  OMR: 3,
  PYG: 0,
  RWF: 0,
  TND: 3,
  UGX: 0,
  VND: 0,
  VUV: 0,
  XAF: 0,
  XOF: 0,
  XPF: 0,
};

function minorUnitExponent(currency: string): number {
  return exponents[currency] ?? 2;
}

/**
 * Converts an amount in major units that arrived as a float (v1 producers, such as the Python
 * reference) into minor units. The rule: read the float as its shortest decimal spelling (what
 * JSON carries; `String(amount)` in JavaScript has the digits of Python's `repr`), then
 * round half up to the currency's minor unit. So binary noise goes (30.599999999999998 USD is
 * 3060), extra decimals round (19.999 EUR is 2000, 1.005 EUR is 101: it is spelled 1.005 though
 * the float is a hair below), and 10 JPY is 10.
 * @throws RangeError for a negative amount, NaN, Infinity, an exponent spelling (1e+21, 1e-7)
 *   or more minor units than Number.MAX_SAFE_INTEGER
 */
export function toMinorUnits(amount: number, currency: string): number {
  const match = /^(\d+)(?:\.(\d+))?$/.exec(String(amount));
  if (!match) throw new RangeError(`${amount} is not a non-negative decimal amount`);
  const [, whole = '', fraction = ''] = match;
  const exponent = minorUnitExponent(currency);
  const kept = BigInt(whole + fraction.slice(0, exponent).padEnd(exponent, '0'));
  const roundedUp = (fraction[exponent] ?? '0') >= '5';
  const minor = roundedUp ? kept + 1n : kept;
  if (minor > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(
      `${amount} ${currency} is more than ${Number.MAX_SAFE_INTEGER} minor units`,
    );
  }
  return Number(minor);
}
