import { describe, expect, it } from '@jest/globals';
import type { DeadLetter } from './dead-letter';
import {
  deadLetterJson,
  formatDeadLetter,
  formatDeadLetterTable,
  printable,
  printableJson,
} from './dead-letter-format';

const rejected: DeadLetter = {
  id: '4',
  topic: 'payments',
  kind: 'rejected',
  eventType: 'PaymentRequested',
  eventId: 'e-1',
  correlationId: 'c-1',
  reason: 'unknown version 9 of PaymentRequested',
  source: 'payment-handler',
  deliveryCount: null,
  at: '2026-01-02T03:04:05.678Z',
  originalMessageId: '2',
  attributes: {
    event_type: 'PaymentRequested',
    dlq_reason: 'unknown version 9 of PaymentRequested',
  },
  data: Buffer.from('{"id":"e-1","data":{"amountMinor":500}}'),
};
const undeliverable: DeadLetter = {
  ...rejected,
  id: '17',
  topic: 'order-saga',
  kind: 'undeliverable',
  eventType: null,
  eventId: null,
  correlationId: null,
  reason: 'max delivery attempts exceeded',
  source: 'process-order',
  deliveryCount: 5,
  originalMessageId: null,
  attributes: {},
  data: Buffer.from([0xff, 0x00, 0x01]),
};

describe('formatDeadLetterTable', () => {
  it('lists one line per dead letter with the source and its delivery count', () => {
    const lines = formatDeadLetterTable([rejected, undeliverable]).split('\n');
    expect(lines[0]).toMatch(
      /^ID\s+TOPIC\s+WHEN\s+EVENT\s+EVENT ID\s+CORRELATION ID\s+SOURCE\s+REASON$/,
    );
    expect(lines[1]).toMatch(
      /^4\s+payments\s+2026-01-02T03:04:05.678Z\s+PaymentRequested\s+e-1\s+c-1\s+payment-handler\s+unknown version 9/,
    );
    expect(lines[2]).toMatch(
      /^17\s+order-saga\s+.*-\s+-\s+-\s+process-order \(5×\)\s+max delivery attempts exceeded$/,
    );
    expect(lines[3]).toBe('2 dead letters');
    expect(formatDeadLetterTable([])).toBe('no dead letters');
  });
});

describe('formatDeadLetter', () => {
  it('shows the summary, the attributes and the data as pretty JSON', () => {
    const text = formatDeadLetter(rejected);
    expect(text).toMatch(/^reason\s+unknown version 9 of PaymentRequested$/m);
    expect(text).toMatch(/^original message id\s+2$/m);
    expect(text).not.toMatch(/^delivery count/m);
    expect(text).toContain('  dlq_reason=unknown version 9 of PaymentRequested');
    expect(text).toContain(
      'data (39 bytes, JSON):\n{\n  "id": "e-1",\n  "data": {\n    "amountMinor": 500\n  }\n}',
    );
  });

  it('shows binary data as base64', () => {
    const text = formatDeadLetter(undeliverable);
    expect(text).toMatch(/^delivery count\s+5$/m);
    expect(text).toContain('attributes:\n  none');
    expect(text).toContain('data (3 bytes, binary, base64):\n/wAB');
  });
});

describe('deadLetterJson', () => {
  it('parses JSON data, keeps text as text and binary as base64', () => {
    expect(deadLetterJson(rejected)).toMatchObject({
      id: '4',
      data: { id: 'e-1', data: { amountMinor: 500 } },
      dataEncoding: 'json',
    });
    expect(deadLetterJson({ ...rejected, data: Buffer.from('not json') })).toMatchObject({
      data: 'not json',
      dataEncoding: 'text',
    });
    expect(deadLetterJson(undeliverable)).toMatchObject({ data: '/wAB', dataEncoding: 'base64' });
  });
});

describe('terminal controls in what a dead letter carries', () => {
  const hostile =
    '\x1b[2J\x1b[31mred\x1b[0m \x1b]0;owned title\x07bell\x07 \x9b1;1Hcsi \x1bcreset \x00nul\x7fdel\x85nel';

  it('are stripped, ESC sequences whole, keeping the text, tabs and newlines', () => {
    expect(printable(hostile)).toBe('red bell csi reset nuldelnel');
    expect(printable('line one\n\tline two')).toBe('line one\n\tline two');
    expect(printable('lone\x1b\nend\x1b')).toBe('lone\nend');
  });

  it('never reach the terminal from list or show', () => {
    const letter: DeadLetter = {
      ...rejected,
      id: '5',
      eventType: `Payment\x1b[8mRequested`,
      eventId: 'e-\x9b2J1',
      reason: `refused ${hostile}`,
      source: 'payment-handler\x07',
      attributes: { 'x\x1b[1m': 'y\x1b]2;t\x07', event_type: hostile },
      data: Buffer.from(`text ${hostile}`),
    };
    // biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point.
    const controls = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;
    const table = formatDeadLetterTable([letter]);
    expect(table).not.toMatch(controls);
    expect(table).toMatch(/PaymentRequested\s+e-1\s+.*refused red bell csi reset nuldelnel$/m);
    const shown = formatDeadLetter(letter);
    expect(shown).not.toMatch(controls);
    expect(shown).toContain('  x=y');
    expect(shown).toContain('text red bell csi reset nuldelnel');
    // As JSON: escaped, so that nothing is lost and the terminal shows it as text.
    const json = printableJson(deadLetterJson(letter));
    expect(json).not.toMatch(controls);
    expect(JSON.parse(json)).toMatchObject({ reason: `refused ${hostile}` });
  });
});
