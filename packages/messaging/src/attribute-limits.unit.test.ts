import { describe, expect, it } from '@jest/globals';
import { attributeLimitViolation, attributeValue } from './attribute-limits';

const bytes = (text: string) => Buffer.byteLength(text);

describe('attributeValue', () => {
  it('keeps text of up to 1024 bytes as it is', () => {
    expect(attributeValue('unknown version 9 of PaymentRequested')).toBe(
      'unknown version 9 of PaymentRequested',
    );
    const exactly = 'é'.repeat(512);
    expect(attributeValue(exactly)).toBe(exactly);
  });

  it('cuts longer text to at most 1024 bytes of UTF-8, at a character, ending with …', () => {
    const ascii = attributeValue('x'.repeat(5000));
    expect(ascii).toBe(`${'x'.repeat(1021)}…`);
    expect(bytes(ascii)).toBe(1024);

    const twoByte = attributeValue('é'.repeat(1000));
    expect(twoByte).toBe(`${'é'.repeat(510)}…`);
    expect(bytes(twoByte)).toBe(1023);
  });

  it('never splits a character of four bytes (a surrogate pair in JavaScript)', () => {
    const cut = attributeValue(`ab${'😀'.repeat(300)}`);
    // 2 bytes of 'ab', 254 whole emoji (1016 bytes), then '…': the 255th would not fit.
    expect(cut).toBe(`ab${'😀'.repeat(254)}…`);
    expect(cut).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
    expect(bytes(cut)).toBeLessThanOrEqual(1024);
    expect(attributeLimitViolation({ dlq_reason: cut })).toBeUndefined();
  });
});

describe('attributeLimitViolation', () => {
  it('names what breaks Pub/Sub limits, counting bytes', () => {
    expect(attributeLimitViolation({ a: 'é'.repeat(513) })).toBe(
      'attribute a: value of 1026 bytes (Pub/Sub allows 1024)',
    );
    expect(attributeLimitViolation({ ['é'.repeat(129)]: 'v' })).toMatch(
      /key of 258 bytes \(Pub\/Sub allows 256\)$/,
    );
    expect(
      attributeLimitViolation(Object.fromEntries(Array.from({ length: 101 }, (_, i) => [i, '']))),
    ).toBe('101 attributes (Pub/Sub allows 100)');
    expect(attributeLimitViolation({ a: 'é'.repeat(512), ['é'.repeat(128)]: '' })).toBeUndefined();
  });
});
