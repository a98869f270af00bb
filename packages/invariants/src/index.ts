export {
  checkInvariants,
  type DeadLetterSeen,
  type InvariantInputs,
  type Violation,
  type WarehouseCounts,
  warehouseCountsOf,
} from './check-invariants';
