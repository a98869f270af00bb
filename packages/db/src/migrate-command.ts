import { parseArgs } from 'node:util';
import { createDb } from './create-db';
import { assertProjectId, grantFunctionRoles } from './function-roles';
import { migrateToLatest } from './migrations';

const migrateUsage = `usage: DATABASE_URL=postgres://... pnpm migrate [--project <project id>]

Applies every pending migration to the database at DATABASE_URL, as a user that owns the
tables (on Cloud SQL: a built-in user, e.g. postgres). With --project, then makes each
function's IAM database user (fn-<name>@<project>.iam) a member of its role; users that do
not exist yet are named and skipped. Safe to run again.`;

/**
 * `pnpm migrate`: the migrations, then (with a project) the function roles' members.
 * Writes progress to `out`; returns the exit code: 0 done, 1 failed, 2 usage.
 */
export async function runMigrate(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  out: (line: string) => void,
): Promise<number> {
  let project: string | undefined;
  try {
    const { values } = parseArgs({
      args: [...argv],
      options: { project: { type: 'string' }, help: { type: 'boolean' } },
      strict: true,
    });
    if (values.help) {
      out(migrateUsage);
      return 0;
    }
    project = values.project;
    if (project !== undefined) assertProjectId(project);
  } catch (error) {
    out(`migrate: ${error instanceof Error ? error.message : String(error)}\n\n${migrateUsage}`);
    return 2;
  }
  if (!env.DATABASE_URL) {
    out(`migrate: DATABASE_URL is not set\n\n${migrateUsage}`);
    return 2;
  }
  const db = createDb(env.DATABASE_URL, { maxConnections: 1 });
  try {
    const applied = await migrateToLatest(db);
    out(applied.length > 0 ? `applied ${applied.join(', ')}` : 'no pending migration');
    if (project === undefined) return 0;
    for (const grant of await grantFunctionRoles(db, { project })) {
      out(
        grant.outcome === 'missing'
          ? `${grant.function}: no user ${grant.user} yet (terraform apply creates it); run this again then`
          : `${grant.function}: ${grant.user} ${grant.outcome === 'granted' ? 'granted' : 'already holds'} role ${grant.role}`,
      );
    }
    return 0;
  } catch (error) {
    out(`migrate failed: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    await db.destroy();
  }
}
