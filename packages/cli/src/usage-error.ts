/** The command line is wrong: the tools print the message and the usage, and exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
