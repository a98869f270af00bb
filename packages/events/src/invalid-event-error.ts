import type { z } from 'zod';

/**
 * A message that can never be handled as sent: not JSON, no valid envelope, an unknown
 * type or version, or data that fails its schema. Consumers dead-letter it with `reason`
 * instead of retrying it.
 */
export class InvalidEventError extends Error {
  override readonly name = 'InvalidEventError';

  constructor(
    readonly reason: string,
    readonly event: { id?: string; type?: string; correlationId?: string } = {},
    options?: ErrorOptions,
  ) {
    super(reason, options);
  }
}

/** `items[0].quantity: Too small: expected number to be >0; currency: Required` */
export function describeIssues(issues: readonly z.core.$ZodIssue[], prefix = ''): string {
  return issues
    .map((issue) => {
      const path = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
      return path ? `${path}: ${issue.message}` : issue.message;
    })
    .join('; ');
}
