export { type BenchContext, type Measure, measure, percentile } from './measure';
