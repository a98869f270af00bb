import { describe, expect, it } from '@jest/globals';
import { createVerifiedTokens } from './verified-tokens';

describe('createVerifiedTokens', () => {
  it('answers a token until its expiry, then forgets it', () => {
    const tokens = createVerifiedTokens({ maxEntries: 10, maxAgeMs: 60_000 });
    tokens.remember('t1', 'cust-1', 10_000, 0);
    expect(tokens.subjectOf('t1', 0)).toBe('cust-1');
    expect(tokens.subjectOf('t1', 9_999)).toBe('cust-1');
    expect(tokens.subjectOf('t2', 0)).toBeUndefined();
    expect(tokens.subjectOf('t1', 10_000)).toBeUndefined();
    expect(tokens.size).toBe(0);
  });

  it('verifies a token again after maxAgeMs, however long it is valid', () => {
    const tokens = createVerifiedTokens({ maxEntries: 10, maxAgeMs: 60_000 });
    tokens.remember('t1', 'cust-1', 3_600_000, 1_000);
    expect(tokens.subjectOf('t1', 60_999)).toBe('cust-1');
    expect(tokens.subjectOf('t1', 61_000)).toBeUndefined();
  });

  it('keeps no token that has expired already', () => {
    const tokens = createVerifiedTokens({ maxEntries: 10, maxAgeMs: 60_000 });
    tokens.remember('t1', 'cust-1', 5_000, 5_000);
    expect(tokens.subjectOf('t1', 5_000)).toBeUndefined();
    expect(tokens.size).toBe(0);
  });

  it('keeps at most maxEntries tokens, forgetting the oldest verified first', () => {
    const tokens = createVerifiedTokens({ maxEntries: 2, maxAgeMs: 60_000 });
    tokens.remember('t1', 'cust-1', 3_600_000, 0);
    tokens.remember('t2', 'cust-2', 3_600_000, 1);
    tokens.remember('t1', 'cust-1', 3_600_000, 2); // verified again: now the newest
    tokens.remember('t3', 'cust-3', 3_600_000, 3);
    expect(tokens.size).toBe(2);
    expect(tokens.subjectOf('t2', 4)).toBeUndefined();
    expect(tokens.subjectOf('t1', 4)).toBe('cust-1');
    expect(tokens.subjectOf('t3', 4)).toBe('cust-3');
  });
});
