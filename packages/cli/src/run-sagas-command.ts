import type { Database } from '@orders/db';
import type { Kysely } from 'kysely';
import type { CommandOutput } from './run-dlq-command';
import { formatSagaHistory, formatSagaTable } from './saga-format';
import { findSagaHistory } from './saga-history';
import { listSagas } from './saga-listing';
import type { SagasCommand } from './sagas-args';

/**
 * Runs one `pnpm sagas` command against the sagas of `type` in `db`; resolves to the exit
 * code: 0 done, 1 when the saga was not found.
 */
export async function runSagasCommand(
  command: Exclude<SagasCommand, { command: 'help' }>,
  db: Kysely<Database>,
  type: string,
  out: CommandOutput,
): Promise<number> {
  switch (command.command) {
    case 'list': {
      const sagas = await listSagas(db, { type, status: command.status, limit: command.limit });
      out.stdout(
        command.json ? JSON.stringify(sagas, null, 2) : formatSagaTable(sagas, command.limit),
      );
      return 0;
    }
    case 'show': {
      const history = await findSagaHistory(db, { type, orderId: command.orderId });
      if (!history) {
        out.stderr(`no saga for order ${command.orderId}`);
        return 1;
      }
      out.stdout(command.json ? JSON.stringify(history, null, 2) : formatSagaHistory(history));
      return 0;
    }
  }
}
