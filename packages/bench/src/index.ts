export { type BenchContext, type Measure, measure } from './measure';
