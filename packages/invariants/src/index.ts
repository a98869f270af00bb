export {
  checkInvariants,
  type DeadLetterSeen,
  type InvariantInputs,
  type RetentionWindows,
  type Violation,
  type WarehouseCounts,
  warehouseCountsOf,
} from './check-invariants';
