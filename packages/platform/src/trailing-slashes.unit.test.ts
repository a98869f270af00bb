import { describe, expect, it } from '@jest/globals';
import { withoutTrailingSlashes } from './trailing-slashes';

describe('withoutTrailingSlashes', () => {
  it.each([
    ['/orders/', '/orders'],
    ['/orders///', '/orders'],
    ['/orders', '/orders'],
    ['/', '/'],
    ['///', '/'],
    ['', ''],
    ['http://127.0.0.1:8080/', 'http://127.0.0.1:8080'],
  ])('%j -> %j', (path, expected) => {
    expect(withoutTrailingSlashes(path)).toBe(expected);
  });
});
