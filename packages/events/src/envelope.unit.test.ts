import { randomUUID } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import { uuidPattern } from './envelope';

describe('uuidPattern', () => {
  it('accepts exactly the uuids the envelope schema accepts, in either case', () => {
    const samples = [
      randomUUID(),
      randomUUID().toUpperCase(),
      '0b9c6f5e-1d2a-4c3b-8e7f-123456789abc',
      '00000000-0000-0000-0000-000000000000',
      'ffffffff-ffff-ffff-ffff-ffffffffffff',
      // Version 0 and 9, and a variant other than RFC 9562's: hex, but not uuids.
      '0b9c6f5e-1d2a-0c3b-8e7f-123456789abc',
      '0b9c6f5e-1d2a-9c3b-8e7f-123456789abc',
      '0b9c6f5e-1d2a-4c3b-ce7f-123456789abc',
      '0b9c6f5e1d2a4c3b8e7f123456789abc',
      ` ${randomUUID()}`,
      'not-a-uuid',
      '',
    ];
    for (const sample of samples) {
      expect([sample, uuidPattern.test(sample)]).toEqual([
        sample,
        z.uuid().safeParse(sample).success,
      ]);
    }
    expect(samples.filter((sample) => uuidPattern.test(sample))).toHaveLength(5);
  });
});
