import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { terraformTopology } from './terraform-topology';

describe('terraformTopology', () => {
  it('gives each topic its consumer, dead-letter topic and delivery settings', () => {
    expect(terraformTopology().topics['order-saga']).toEqual({
      consumer: 'process-order',
      dead_letter_topic: 'order-saga-dlq',
      ack_deadline_seconds: 60,
      minimum_backoff_seconds: 1,
      maximum_backoff_seconds: 60,
      max_delivery_attempts: 10,
    });
  });

  it('matches infra/topology.auto.tfvars.json (run `pnpm generate` after changing the topology)', () => {
    const file = join(__dirname, '..', '..', '..', 'infra', 'topology.auto.tfvars.json');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(terraformTopology());
  });
});
