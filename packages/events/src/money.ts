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
 * Converts a decimal amount that arrived as a float (legacy producers) into minor units,
 * exactly: 19.99 EUR is 1999, never 1998. Reads the float's shortest decimal spelling, so
 * an amount with more decimals than the currency has (19.999 EUR) is refused, not rounded.
 */
export function toMinorUnits(amount: number, currency: string): number {
  const exponent = minorUnitExponent(currency);
  const match = /^(\d+)(?:\.(\d+))?$/.exec(String(amount));
  if (!match || !Number.isFinite(amount)) {
    throw new RangeError(`${amount} is not a non-negative decimal amount`);
  }
  const [, whole = '', fraction = ''] = match;
  if (fraction.length > exponent) {
    throw new RangeError(`${amount} has more than ${exponent} decimals for ${currency}`);
  }
  const minor = Number(whole + fraction.padEnd(exponent, '0'));
  if (!Number.isSafeInteger(minor)) throw new RangeError(`${amount} is too large`);
  return minor;
}
