import { describe, expect, it } from '@jest/globals';
import { benchJson, benchText } from './bench-report';
import { measure } from './measure';

const measures = [
  measure('intake-throughput', 'requests/s', 1234.5, 2000, '32 connections'),
  measure('intake-p99', 'ms', 9.87654, 6.5),
];

describe('the bench report', () => {
  it('prints exactly one JSON object with every measure', () => {
    const parsed = JSON.parse(benchJson(measures));
    expect(Object.keys(parsed)).toEqual(['measures']);
    expect(parsed.measures).toEqual([
      {
        name: 'intake-throughput',
        unit: 'requests/s',
        figure: 1234.5,
        baseline: 2000,
        ratio: 0.617,
        note: '32 connections',
      },
      { name: 'intake-p99', unit: 'ms', figure: 9.877, baseline: 6.5, ratio: 1.519 },
    ]);
  });

  it('prints a table with a row per measure, numbers aligned, and the failed benchmarks', () => {
    const text = benchText(measures, ['pipeline']);
    expect(text.split('\n')).toEqual([
      'name               figure  unit        baseline  ratio  note',
      'intake-throughput    1235  requests/s      2000   0.62  32 connections',
      'intake-p99           9.88  ms              6.50   1.52',
      'FAILED: pipeline (see the log above)',
      '',
    ]);
  });
});
