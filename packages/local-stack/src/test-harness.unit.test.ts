import { describe, expect, it } from '@jest/globals';
import { testProjectId } from './test-harness';

// What Google Cloud accepts as a project id, and so what the emulator is given.
const validProjectId = /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/;

describe('testProjectId', () => {
  it.each([
    'local-stack',
    'Saga: compensation & retries (long label that goes on and on)',
    '42 starts with digits',
    '---',
    '',
  ])('makes a valid, unique project id from %j', (label) => {
    const first = testProjectId(label);
    expect(first).toMatch(validProjectId);
    expect(testProjectId(label)).not.toBe(first);
  });

  it('keeps the label readable', () => {
    expect(testProjectId('Order Saga')).toMatch(/^order-saga-[a-z0-9]{6}$/);
  });
});
