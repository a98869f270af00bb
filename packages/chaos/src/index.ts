export { type ChaosOptions, type ChaosReport, type ChaosViolation, runChaos } from './chaos-run';
export { type FaultCounts, type FaultKind, faultKinds } from './fault-plan';
