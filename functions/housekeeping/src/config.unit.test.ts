import { describe, expect, it } from '@jest/globals';
import { housekeepingConfig } from './config';

const database = { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/orders' };

describe('housekeepingConfig: retention', () => {
  it('keeps claims 30 days, sent outbox rows 7, the history of sagas at rest 90', () => {
    expect(housekeepingConfig(database)).toMatchObject({
      RETENTION_PROCESSED_EVENTS_DAYS: 30,
      RETENTION_SENT_OUTBOX_DAYS: 7,
      RETENTION_SAGA_HISTORY_DAYS: 90,
      RETENTION_BATCH_SIZE: 500,
      RETENTION_MAX_ROWS: 20_000,
    });
  });

  it('reads each window, in days (fractions too)', () => {
    expect(
      housekeepingConfig({
        ...database,
        RETENTION_PROCESSED_EVENTS_DAYS: '45',
        RETENTION_SENT_OUTBOX_DAYS: '1.5',
        RETENTION_SAGA_HISTORY_DAYS: '365',
        RETENTION_BATCH_SIZE: '100',
        RETENTION_MAX_ROWS: '1000',
      }),
    ).toMatchObject({
      RETENTION_PROCESSED_EVENTS_DAYS: 45,
      RETENTION_SENT_OUTBOX_DAYS: 1.5,
      RETENTION_SAGA_HISTORY_DAYS: 365,
      RETENTION_BATCH_SIZE: 100,
      RETENTION_MAX_ROWS: 1000,
    });
  });

  it('keeps sent outbox rows no longer than the claims that know their events', () => {
    expect(() =>
      housekeepingConfig({
        ...database,
        RETENTION_PROCESSED_EVENTS_DAYS: '20',
        RETENTION_SENT_OUTBOX_DAYS: '21',
      }),
    ).toThrow(/RETENTION_SENT_OUTBOX_DAYS: must not exceed RETENTION_PROCESSED_EVENTS_DAYS/);
    expect(
      housekeepingConfig({
        ...database,
        RETENTION_PROCESSED_EVENTS_DAYS: '20',
        RETENTION_SENT_OUTBOX_DAYS: '20',
      }).RETENTION_SENT_OUTBOX_DAYS,
    ).toBe(20);
  });

  it('refuses to forget a claim before its event can no longer come back (15 days), naming the setting and why', () => {
    for (const days of ['14.9', '7', '0']) {
      expect(() =>
        housekeepingConfig({
          ...database,
          RETENTION_PROCESSED_EVENTS_DAYS: days,
          RETENTION_SENT_OUTBOX_DAYS: '1',
        }),
      ).toThrow(
        /^invalid configuration: RETENTION_PROCESSED_EVENTS_DAYS: must be at least 15 days: a claim must outlive every redelivery of its event \(7 days on its subscription, 7 on the dead-letter queue, then a replay\)/,
      );
    }
    expect(
      housekeepingConfig({ ...database, RETENTION_PROCESSED_EVENTS_DAYS: '15' }),
    ).toMatchObject({ RETENTION_PROCESSED_EVENTS_DAYS: 15 });
  });

  it.each([
    ['RETENTION_SENT_OUTBOX_DAYS', '0'],
    ['RETENTION_SAGA_HISTORY_DAYS', '0.5'],
    ['RETENTION_BATCH_SIZE', '0'],
    ['RETENTION_BATCH_SIZE', '20000'],
    ['RETENTION_MAX_ROWS', '0'],
    ['RETENTION_MAX_ROWS', 'many'],
  ])('refuses %s=%s, naming it', (setting, value) => {
    expect(() => housekeepingConfig({ ...database, [setting]: value })).toThrow(
      new RegExp(`^invalid configuration: ${setting}: `),
    );
  });
});
