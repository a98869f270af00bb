import type { Database } from '@orders/db';
import { retryOutboxRow } from '@orders/messaging';
import type { Kysely } from 'kysely';
import type { OutboxCommand } from './outbox-args';
import { formatOutboxHealth, formatOutboxRow, formatOutboxTable } from './outbox-format';
import { findOutboxRow, listOutbox, outboxHealth } from './outbox-listing';
import type { CommandOutput } from './run-dlq-command';

/**
 * Runs one `pnpm outbox` command against the outbox in `db`; resolves to the exit code: 0
 * done, 1 when the row does not exist, or a retry changed nothing (sent, or still refused);
 * a dry run (`retry --dry-run`) judges the row the same way, exit code included, and changes
 * nothing.
 */
export async function runOutboxCommand(
  command: Exclude<OutboxCommand, { command: 'help' }>,
  db: Kysely<Database>,
  out: CommandOutput,
): Promise<number> {
  switch (command.command) {
    case 'list': {
      const rows = await listOutbox(db, command);
      if (command.json) {
        out.stdout(JSON.stringify(rows, null, 2));
        return 0;
      }
      const health = formatOutboxHealth(await outboxHealth(db));
      out.stdout(`${health}\n\n${formatOutboxTable(rows, command.limit)}`);
      return 0;
    }
    case 'show': {
      const row = await findOutboxRow(db, command.eventId);
      if (!row) {
        out.stderr(`no outbox row ${command.eventId}`);
        return 1;
      }
      out.stdout(command.json ? JSON.stringify(row, null, 2) : formatOutboxRow(row));
      return 0;
    }
    case 'retry': {
      const { eventId, dryRun } = command;
      const retried = await retryOutboxRow(db, eventId, { dryRun });
      switch (retried.kind) {
        case 'not-found':
          out.stderr(`no outbox row ${eventId}`);
          return 1;
        case 'sent':
          out.stderr(`outbox row ${eventId} is sent: every route took it, nothing to retry`);
          return 1;
        case 'still-refused':
          out.stderr(
            `outbox row ${eventId} stays set aside: it still fails the relay's rule (${retried.reason})`,
          );
          return 1;
        case 'released':
          out.stdout(
            dryRun
              ? `would release outbox row ${eventId} (set aside for: ${retried.was ?? '-'}): it passes the relay's rule now, and would go out at the next housekeeping tick`
              : `released outbox row ${eventId} (set aside for: ${retried.was ?? '-'}): it passes the relay's rule now, and goes out at the next housekeeping tick`,
          );
          return 0;
        case 'due':
          out.stdout(
            dryRun
              ? `would make outbox row ${eventId} due: it would go out at the next housekeeping tick`
              : `outbox row ${eventId} is due: it goes out at the next housekeeping tick`,
          );
          return 0;
      }
    }
  }
}
