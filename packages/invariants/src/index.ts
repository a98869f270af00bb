export {
  checkInvariants,
  type InvariantInputs,
  type Violation,
  type WarehouseCounts,
} from './check-invariants';
