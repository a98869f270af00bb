import type { Database } from '@orders/db';
import type { Kysely } from 'kysely';

interface LogEntry {
  message?: string;
  correlationId?: string;
  orderId?: string;
  eventId?: string;
}

export interface LogViolation {
  orderId?: string;
  correlationId?: string;
  detail: string;
}

/** Reported per log message, not per line: one missing field shows on thousands of lines. */
const examplesPerMessage = 1;

/**
 * Invariant 7 for logs: every line of the functions about an order or an event carries a
 * correlation id, and a line naming an order carries that order's.
 */
export async function correlationViolations(
  db: Kysely<Database>,
  lines: readonly string[],
): Promise<LogViolation[]> {
  const orders = new Map(
    (await db.selectFrom('orders').select(['id', 'correlation_id']).execute()).map((o) => [
      o.id,
      o.correlation_id,
    ]),
  );
  const reported = new Map<string, number>();
  const violations: LogViolation[] = [];
  for (const line of lines) {
    const entry = parse(line);
    if (!entry || (entry.orderId === undefined && entry.eventId === undefined)) continue;
    const expected = entry.orderId ? orders.get(entry.orderId) : undefined;
    const problem = !entry.correlationId
      ? 'carries no correlation id'
      : expected && expected !== entry.correlationId
        ? `carries correlation id ${entry.correlationId}, not its order's ${expected}`
        : undefined;
    if (!problem) continue;
    const key = `${entry.message}: ${problem.split(' ')[0]}`;
    const seen = reported.get(key) ?? 0;
    reported.set(key, seen + 1);
    if (seen >= examplesPerMessage) continue;
    violations.push({
      orderId: entry.orderId,
      correlationId: expected,
      detail: `log line "${entry.message}" ${problem}`,
    });
  }
  return violations;
}

/** A function's JSON log line, after the `name | ` prefix the local stack adds. */
function parse(line: string): LogEntry | undefined {
  const start = line.indexOf('{');
  if (start < 0) return undefined;
  try {
    const value: unknown = JSON.parse(line.slice(start));
    return typeof value === 'object' && value !== null ? (value as LogEntry) : undefined;
  } catch {
    return undefined;
  }
}
