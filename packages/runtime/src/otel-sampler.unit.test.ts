import { describe, expect, it } from '@jest/globals';
import { ROOT_CONTEXT, SpanKind, TraceFlags, trace } from '@opentelemetry/api';
import { SamplingDecision } from '@opentelemetry/sdk-trace';
import { samplerOf } from './otel';

const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
// A caller (Cloud Run, say) that did not sample its request.
const unsampledCaller = trace.setSpanContext(ROOT_CONTEXT, {
  traceId,
  spanId: '00f067aa0ba902b7',
  traceFlags: TraceFlags.NONE,
  isRemote: true,
});
const decision = (env: NodeJS.ProcessEnv, context = unsampledCaller) =>
  samplerOf(env).shouldSample(context, traceId, 'POST /orders', SpanKind.SERVER, {}, []).decision;

describe('samplerOf (OTEL_TRACES_SAMPLER, which the SDK does not read itself)', () => {
  it('follows the caller by default, and samples every root span', () => {
    expect(decision({})).toBe(SamplingDecision.NOT_RECORD);
    expect(decision({}, ROOT_CONTEXT)).toBe(SamplingDecision.RECORD_AND_SAMPLED);
  });

  it('samples what the caller did not with always_on or traceidratio', () => {
    expect(decision({ OTEL_TRACES_SAMPLER: 'always_on' })).toBe(
      SamplingDecision.RECORD_AND_SAMPLED,
    );
    expect(decision({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '1' })).toBe(
      SamplingDecision.RECORD_AND_SAMPLED,
    );
    expect(decision({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' })).toBe(
      SamplingDecision.NOT_RECORD,
    );
    expect(decision({ OTEL_TRACES_SAMPLER: 'always_off' }, ROOT_CONTEXT)).toBe(
      SamplingDecision.NOT_RECORD,
    );
  });

  it('refuses a sampler or ratio it does not know, naming the variable', () => {
    expect(() => samplerOf({ OTEL_TRACES_SAMPLER: 'sometimes' })).toThrow(
      /OTEL_TRACES_SAMPLER must be one of always_on, .* not "sometimes"/,
    );
    expect(() =>
      samplerOf({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '2' }),
    ).toThrow('OTEL_TRACES_SAMPLER_ARG must be a ratio from 0 to 1, not "2"');
  });
});
