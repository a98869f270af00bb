export interface GroupedCallsOptions<T> {
  /** The most items one call takes (default: no limit). */
  maxItems?: number;
  /** With `weightOf`, the most weight one call takes, e.g. bytes (default: no limit). */
  maxWeight?: number;
  weightOf?: (item: T) => number;
}

/**
 * Group commit: the returned function calls `run` at once for the first caller; callers
 * arriving while it runs are queued and served together by the next call, as a database
 * groups commits. A lone caller waits for no timer, and under load one call serves many.
 * Each caller's promise settles with the call that included its items. A call takes the
 * queued callers in order while its items stay within `maxItems` and `maxWeight`, and always
 * at least one caller; a caller's items are never split across calls.
 */
export function groupedCalls<T>(
  run: (items: T[]) => Promise<void>,
  {
    maxItems = Number.POSITIVE_INFINITY,
    maxWeight = Number.POSITIVE_INFINITY,
    weightOf = () => 0,
  }: GroupedCallsOptions<T> = {},
): (items: readonly T[]) => Promise<void> {
  interface Caller {
    items: readonly T[];
    weight: number;
    resolve(): void;
    reject(error: unknown): void;
  }
  const queue: Caller[] = [];
  let running = false;

  function nextCall(): Caller[] {
    let count = 0;
    let items = 0;
    let weight = 0;
    while (count < queue.length) {
      items += queue[count]!.items.length;
      weight += queue[count]!.weight;
      if (count > 0 && (items > maxItems || weight > maxWeight)) break;
      count++;
    }
    return queue.splice(0, count);
  }

  async function drain() {
    running = true;
    while (queue.length > 0) {
      const callers = nextCall();
      try {
        await run(callers.flatMap((caller) => caller.items));
        for (const caller of callers) caller.resolve();
      } catch (error) {
        for (const caller of callers) caller.reject(error);
      }
    }
    running = false;
  }

  return (items) =>
    new Promise<void>((resolve, reject) => {
      const weight = items.reduce((total, item) => total + weightOf(item), 0);
      queue.push({ items, weight, resolve, reject });
      if (!running) void drain();
    });
}
