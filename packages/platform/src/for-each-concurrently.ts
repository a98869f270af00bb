/**
 * Runs `task` on every item, at most `concurrency` (at least 1) at a time: the next item
 * starts as soon as a task ends. The first failure stops further items from starting; it is
 * thrown once the tasks already running have ended, so that no task outlives the call.
 */
export async function forEachConcurrently<T>(
  items: readonly T[],
  concurrency: number,
  task: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (!failure && next < items.length) {
      const index = next++;
      try {
        await task(items[index]!, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  const workers = Math.min(Math.max(1, concurrency), items.length);
  await Promise.all(Array.from({ length: workers }, worker));
  if (failure) throw failure.error;
}
