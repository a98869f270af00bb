import { describe, expect, it } from '@jest/globals';
import { tracingEnabled } from './tracing';

describe('tracingEnabled', () => {
  it('is off unless something turns it on', () => {
    expect(tracingEnabled({})).toBe(false);
    expect(tracingEnabled({ OTEL_TRACES: 'off', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x' })).toBe(
      false,
    );
    expect(tracingEnabled({ OTEL_TRACES_EXPORTER: 'none' })).toBe(false);
  });

  it('is on with OTEL_TRACES=on or the standard variables', () => {
    expect(tracingEnabled({ OTEL_TRACES: 'on' })).toBe(true);
    expect(tracingEnabled({ OTEL_TRACES: ' ON ' })).toBe(true);
    expect(tracingEnabled({ OTEL_TRACES_EXPORTER: 'otlp' })).toBe(true);
    expect(tracingEnabled({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(true);
    expect(tracingEnabled({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c/v1/traces' })).toBe(true);
  });

  it('lets OTEL_SDK_DISABLED=true win, and refuses a value it does not know', () => {
    expect(tracingEnabled({ OTEL_TRACES: 'on', OTEL_SDK_DISABLED: 'true' })).toBe(false);
    expect(() => tracingEnabled({ OTEL_TRACES: 'yes' })).toThrow(
      'OTEL_TRACES must be on or off, not yes',
    );
  });
});
