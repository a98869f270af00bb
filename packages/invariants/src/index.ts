export {
  checkInvariants,
  type InvariantInputs,
  type Violation,
  type WarehouseCounts,
  warehouseCountsOf,
} from './check-invariants';
