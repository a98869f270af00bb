// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Terraform interpolations (`${var.x}`) are literal text here.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import {
  extractField,
  type LogMetric,
  loadTerraform,
  logEntryOf,
  logMetrics,
  matchesLogFilter,
  type TerraformConfig,
  UnsupportedLogFilterError,
} from './index';
import { edited } from './testing';

const root = join(__dirname, '..', '..', '..');
let infra: TerraformConfig;
let variables: Record<string, unknown>;

beforeAll(async () => {
  infra = await loadTerraform(join(root, 'infra'));
  variables = JSON.parse(await readFile(join(root, 'infra', 'topology.auto.tfvars.json'), 'utf8'));
});

const housekeeping = { type: 'cloud_run_revision', labels: { service_name: 'housekeeping' } };
const gaugeLine = {
  severity: 'INFO',
  message: 'housekeeping gauge',
  time: '2026-12-03T11:00:00.000Z',
  service: 'housekeeping',
  gauge: 'sagas_waiting',
  value: 3,
  status: 'AWAITING_PAYMENT',
};
const metric = (metrics: LogMetric[], address: string) => {
  const found = metrics.find((m) => m.address === address);
  if (!found) throw new Error(`no ${address}`);
  return found;
};

describe('logMetrics', () => {
  it('expands each metric over its for_each, its filter resolved against locals and variables', () => {
    const metrics = logMetrics(infra, variables);
    const waiting = metric(metrics, 'google_logging_metric.gauge["sagas_waiting"]');
    expect(waiting).toEqual({
      address: 'google_logging_metric.gauge["sagas_waiting"]',
      filter:
        'resource.type="cloud_run_revision" AND resource.labels.service_name="housekeeping" AND jsonPayload.message="housekeeping gauge" AND jsonPayload.gauge="sagas_waiting"',
      valueExtractor: 'EXTRACT(jsonPayload.value)',
      labelExtractors: { status: 'EXTRACT(jsonPayload.status)' },
    });
    expect(metric(metrics, 'google_logging_metric.gauge["outbox_unsent"]').labelExtractors).toEqual(
      {},
    );
    expect(metric(metrics, 'google_logging_metric.consumer_outcomes')).toMatchObject({
      valueExtractor: undefined,
      labelExtractors: {
        consumer: 'EXTRACT(jsonPayload.consumer)',
        outcome: 'EXTRACT(jsonPayload.outcome)',
      },
    });
  });

  it('refuses a reference it cannot resolve instead of leaving it in the filter', async () => {
    const config = await edited(
      infra,
      'monitoring.tf',
      'service_name=\\"${local.housekeeping}\\"',
      'service_name=\\"${local.nowhere}\\"',
    );
    expect(() => logMetrics(config, variables)).toThrow(UnsupportedLogFilterError);
  });
});

describe('matchesLogFilter', () => {
  const filter =
    'resource.type="cloud_run_revision" AND resource.labels.service_name="housekeeping" AND jsonPayload.message="housekeeping gauge" AND jsonPayload.gauge="sagas_waiting"';

  it('matches a line by its resource and payload fields, as Cloud Logging keeps them', () => {
    const entry = logEntryOf(gaugeLine, housekeeping);
    expect(entry.jsonPayload).not.toHaveProperty('severity');
    expect(entry.jsonPayload).toHaveProperty('message', 'housekeeping gauge');
    expect(matchesLogFilter(filter, entry)).toBe(true);
    expect(
      matchesLogFilter(filter, logEntryOf({ ...gaugeLine, gauge: 'other' }, housekeeping)),
    ).toBe(false);
    const { gauge: _gauge, ...withoutGauge } = gaugeLine;
    expect(matchesLogFilter(filter, logEntryOf(withoutGauge, housekeeping))).toBe(false);
    const elsewhere = { ...housekeeping, labels: { service_name: 'place-order' } };
    expect(matchesLogFilter(filter, logEntryOf(gaugeLine, elsewhere))).toBe(false);
  });

  it('reads presence and severity comparisons', () => {
    const line = { severity: 'WARNING', message: 'm', outcome: 'retried', consumer: 'c' };
    const entry = logEntryOf(line, housekeeping);
    expect(matchesLogFilter('jsonPayload.outcome:* AND jsonPayload.consumer:*', entry)).toBe(true);
    expect(matchesLogFilter('jsonPayload.outcome:* AND jsonPayload.step:*', entry)).toBe(false);
    expect(matchesLogFilter('severity>=WARNING', entry)).toBe(true);
    expect(matchesLogFilter('severity>=ERROR', entry)).toBe(false);
  });

  it('refuses what it cannot read: OR, NOT, parentheses, a term it does not know', () => {
    const entry = logEntryOf(gaugeLine, housekeeping);
    for (const unreadable of [
      'jsonPayload.gauge="a" OR jsonPayload.gauge="b"',
      'NOT jsonPayload.gauge="a"',
      '(jsonPayload.gauge="a")',
      'jsonPayload.gauge="a" jsonPayload.value="b"',
      'jsonPayload.message:"house"',
    ]) {
      expect(() => matchesLogFilter(unreadable, entry)).toThrow(UnsupportedLogFilterError);
    }
  });
});

describe('extractField', () => {
  it('gives the field an EXTRACT names, and refuses another extractor', () => {
    const entry = logEntryOf(gaugeLine, housekeeping);
    expect(extractField('EXTRACT(jsonPayload.value)', entry)).toBe(3);
    expect(extractField('EXTRACT(jsonPayload.status)', entry)).toBe('AWAITING_PAYMENT');
    expect(extractField('EXTRACT(jsonPayload.missing)', entry)).toBeUndefined();
    expect(() => extractField('REGEXP_EXTRACT(jsonPayload.value, "(\\d+)")', entry)).toThrow(
      UnsupportedLogFilterError,
    );
  });
});
