import { describe, expect, it } from '@jest/globals';
import { requestFingerprint } from './request-fingerprint';

describe('requestFingerprint', () => {
  it('ignores key order and whitespace, not values', () => {
    const a = requestFingerprint('POST', '/orders', { b: 1, a: { y: [1, 2], x: 'z' } });
    const b = requestFingerprint('POST', '/orders', { a: { x: 'z', y: [1, 2] }, b: 1 });
    expect(a).toBe(b);
    expect(requestFingerprint('POST', '/orders', { b: 2, a: { y: [1, 2], x: 'z' } })).not.toBe(a);
    expect(requestFingerprint('POST', '/orders', { a: { y: [2, 1], x: 'z' }, b: 1 })).not.toBe(a);
    expect(requestFingerprint('PUT', '/orders', { b: 1, a: { y: [1, 2], x: 'z' } })).not.toBe(a);
  });
});
