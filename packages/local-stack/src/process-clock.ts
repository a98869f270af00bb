/**
 * Makes this process's clock run `offsetMs` off the real time (`Date.now()` and `new Date()`
 * with no arguments), as a function instance whose clock drifted would; returns the undo. For
 * tests that show a time comes from the database's clock, not the process's.
 */
export function skewProcessClock(offsetMs: number): () => void {
  const RealDate = globalThis.Date;
  class SkewedDate extends RealDate {
    constructor(...args: unknown[]) {
      if (args.length === 0) super(RealDate.now() + offsetMs);
      else super(...(args as [string | number | Date]));
    }
    static override now() {
      return RealDate.now() + offsetMs;
    }
  }
  globalThis.Date = SkewedDate as DateConstructor;
  return () => {
    globalThis.Date = RealDate;
  };
}
