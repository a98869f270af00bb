/**
 * A command line that is wrong (an unknown option, a value out of range): the tools
 * (`pnpm bench`, `chaos`, `demo`, `dlq`, `sagas`, `deploy`) print its message and their
 * usage, and exit 2.
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
