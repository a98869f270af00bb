import { describe, expect, it } from '@jest/globals';
import { createLogger } from '@orders/platform';
import { createScheduledJob } from './scheduled-job';

describe('createScheduledJob', () => {
  it('runs every step whatever the others do, logs a failed one at error, and acknowledges the tick', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({ write: (line) => lines.push(JSON.parse(line)) });
    const ran: string[] = [];
    const job = createScheduledJob({
      name: 'housekeeping',
      projectId: 'p',
      logger,
      steps: {
        relayed: async () => {
          ran.push('relayed');
          throw new Error('publish to payments failed: HTTP 403');
        },
        sagasWoken: async () => {
          ran.push('sagasWoken');
          return 2;
        },
        keysPurged: async () => {
          ran.push('keysPurged');
          return 0;
        },
      },
    });

    await expect(job({ traceparent: undefined } as never)).resolves.toBeUndefined();

    expect(ran.sort()).toEqual(['keysPurged', 'relayed', 'sagasWoken']);
    expect(lines).toEqual([
      expect.objectContaining({
        severity: 'ERROR',
        message: 'housekeeping step relayed failed; the next tick tries again',
        step: 'relayed',
        error: expect.objectContaining({ message: 'publish to payments failed: HTTP 403' }),
      }),
      expect.objectContaining({
        severity: 'WARNING',
        message: 'housekeeping done',
        relayed: { failed: 'publish to payments failed: HTTP 403' },
        sagasWoken: 2,
        keysPurged: 0,
      }),
    ]);
  });

  it('logs a tick that found nothing to do at debug only, and one that did at info', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({ level: 'debug', write: (line) => lines.push(JSON.parse(line)) });
    const job = (value: unknown) =>
      createScheduledJob({ name: 'h', projectId: 'p', logger, steps: { step: async () => value } });
    await job({ sent: 0, failingRoutes: [] })({} as never);
    await job({ sent: 0, failingRoutes: ['payments'] })({} as never);
    await job(3)({} as never);
    expect(lines.map((line) => line.severity)).toEqual(['DEBUG', 'INFO', 'INFO']);
  });
});
