import { describe, expect, it } from '@jest/globals';
import { ForbiddenError, ValidationError } from '@orders/runtime';
import { parseOrderRequest } from './order-request';

const valid = { customerId: 'cust-1', currency: 'EUR', items: [{ sku: 'TEA-001', quantity: 2 }] };
/** The caller is cust-1: the token's subject. */
const limits = { maxItems: 3, maxQuantity: 10, customerId: 'cust-1' };

function issuesOf(body: unknown) {
  try {
    parseOrderRequest(body, limits);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).issues;
  }
  throw new Error('expected a ValidationError');
}

describe('parseOrderRequest', () => {
  it('accepts a valid order', () => {
    expect(parseOrderRequest(valid, limits)).toEqual(valid);
  });

  it("places the order for the caller: a body without customerId is the caller's", () => {
    const { customerId: _, ...anonymous } = valid;
    expect(parseOrderRequest(anonymous, limits)).toEqual(valid);
  });

  it('refuses a body that names another customer (403, naming the field)', () => {
    const attempt = () => parseOrderRequest({ ...valid, customerId: 'cust-2' }, limits);
    expect(attempt).toThrow(ForbiddenError);
    try {
      attempt();
    } catch (error) {
      expect(error).toMatchObject({
        status: 403,
        code: 'customer_mismatch',
        issues: [{ pointer: '/customerId', detail: expect.any(String) }],
      });
    }
  });

  it('refuses more units than an order may hold, its lines together', () => {
    const items = [
      { sku: 'TEA-001', quantity: 6 },
      { sku: 'TEA-002', quantity: 5 },
    ];
    expect(issuesOf({ ...valid, items })).toEqual([
      { pointer: '/items', detail: 'holds 11 units; an order may hold at most 10' },
    ]);
    expect(parseOrderRequest({ ...valid, items: items.slice(0, 1) }, limits).items).toHaveLength(1);
  });

  it('names each unknown field, at any depth', () => {
    const issues = issuesOf({
      ...valid,
      price: 1,
      items: [{ sku: 'TEA-001', quantity: 1, priceMinor: 1 }],
    });
    expect(issues).toEqual(
      expect.arrayContaining([
        { pointer: '/price', detail: 'unknown field' },
        { pointer: '/items/0/priceMinor', detail: 'unknown field' },
      ]),
    );
  });

  it.each([
    ['zero', 0],
    ['negative', -1],
    ['fractional', 1.5],
    ['a string', '2'],
    ['null', null],
  ])('refuses a quantity that is %s', (_label, quantity) => {
    const issues = issuesOf({ ...valid, items: [{ sku: 'TEA-001', quantity }] });
    expect(issues.map((issue) => 'pointer' in issue && issue.pointer)).toEqual([
      '/items/0/quantity',
    ]);
  });

  it('names every field of the wrong type', () => {
    const issues = issuesOf({ customerId: 7, currency: 'euro', items: 'TEA-001' });
    expect(issues.map((issue) => 'pointer' in issue && issue.pointer).sort()).toEqual([
      '/currency',
      '/customerId',
      '/items',
    ]);
  });

  it('refuses a body that is not an object', () => {
    for (const body of [null, [], 'order', 42, undefined]) {
      expect(issuesOf(body)).toEqual([{ pointer: '', detail: expect.any(String) }]);
    }
  });

  it('refuses too many items and no items', () => {
    const items = ['A', 'B', 'C', 'D'].map((sku) => ({ sku, quantity: 1 }));
    expect(issuesOf({ ...valid, items })).toEqual([
      { pointer: '/items', detail: 'must hold at most 3 items' },
    ]);
    expect(issuesOf({ ...valid, items: [] })).toEqual([
      { pointer: '/items', detail: 'must hold at least one item' },
    ]);
  });

  it('refuses the same sku twice, pointing at the repeat', () => {
    const items = [
      { sku: 'TEA-001', quantity: 1 },
      { sku: 'MUG-001', quantity: 1 },
      { sku: 'TEA-001', quantity: 2 },
    ];
    expect(issuesOf({ ...valid, items })).toEqual([
      { pointer: '/items/2/sku', detail: 'duplicate sku TEA-001, also at /items/0/sku' },
    ]);
  });

  it('escapes JSON Pointer characters in unknown field names', () => {
    expect(issuesOf({ ...valid, 'a/b~c': 1 })).toEqual([
      { pointer: '/a~1b~0c', detail: 'unknown field' },
    ]);
  });

  it('ignores prototype-pollution keys rather than merging them', () => {
    const body = JSON.parse(
      '{"customerId":"c","currency":"EUR","items":[{"sku":"TEA-001","quantity":1}],"__proto__":{"x":1}}',
    );
    expect(issuesOf(body)).toEqual([{ pointer: '/__proto__', detail: 'unknown field' }]);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  // Found by the intake fuzz suite: NUL failed the insert (500), a lone surrogate failed the
  // outbox's jsonb (500) or would have been stored as U+FFFD.
  it.each([
    ['NUL', 'a\u0000b'],
    ['another control character', 'a\u0007b'],
    ['a tab inside', 'a\tb'],
    ['a lone high surrogate', 'a\uD800b'],
    ['a lone low surrogate', '\uDC00'],
  ])('refuses a customerId with %s', (_label, customerId) => {
    expect(issuesOf({ ...valid, customerId })).toEqual([
      { pointer: '/customerId', detail: expect.stringMatching(/control characters/) },
    ]);
  });

  it.each([
    ['emoji', 'cust-\u{1F600}'],
    ['an RTL mark', '\u200Fcust'],
    ['NFD', 'Jose\u0301'],
  ])('keeps a customerId with %s as sent', (_label, customerId) => {
    expect(parseOrderRequest({ ...valid, customerId }, { ...limits, customerId }).customerId).toBe(
      customerId,
    );
  });
});
