import { projectIdPattern } from '@orders/platform';
import { type Kysely, sql } from 'kysely';
import type { Database } from './schema';

/**
 * The database role of each function that uses the database (migration 0012-function-roles):
 * what its code runs, and nothing else. analytics-loader has none: it uses no database.
 */
export const functionRoles = {
  'place-order': 'place_order',
  'process-order': 'process_order',
  'payment-handler': 'payment_handler',
  housekeeping: 'housekeeping',
} as const;

export type DatabaseFunction = keyof typeof functionRoles;

/**
 * The IAM database user a function connects as on Cloud SQL: its service account
 * `fn-<name>@<project>.iam.gserviceaccount.com` without `.gserviceaccount.com` (the deploy's
 * `DB_USER`).
 */
export function functionDatabaseUser(name: DatabaseFunction, project: string): string {
  return `fn-${name}@${project}.iam`;
}

export interface FunctionRoleGrant {
  function: DatabaseFunction;
  role: string;
  user: string;
  /** `missing`: no such user on the server yet (Terraform creates them): nothing granted. */
  outcome: 'granted' | 'already a member' | 'missing';
}

/** @throws Error naming `project` when it is not a Google Cloud project id. */
export function assertProjectId(project: string): void {
  if (!projectIdPattern.test(project)) {
    throw new Error(
      `project ${JSON.stringify(project)} is not a Google Cloud project id (6-30 lowercase letters, digits and hyphens, starting with a letter)`,
    );
  }
}

/**
 * Makes each function's IAM database user a member of its role, for the users that exist;
 * safe to run again. Run by the migrator (the roles' creator), after the migrations.
 */
export async function grantFunctionRoles(
  db: Kysely<Database>,
  { project }: { project: string },
): Promise<FunctionRoleGrant[]> {
  assertProjectId(project);
  const grants: FunctionRoleGrant[] = [];
  for (const [name, role] of Object.entries(functionRoles) as [DatabaseFunction, string][]) {
    const user = functionDatabaseUser(name, project);
    const { rows } = await sql<{
      role_exists: boolean;
      user_exists: boolean;
      member: boolean | null;
    }>`
      select r.oid is not null as role_exists, u.oid is not null as user_exists,
        case when r.oid is not null and u.oid is not null
          then pg_has_role(u.oid, r.oid, 'member') end as member
      from (select) as one
      left join pg_roles r on r.rolname = ${role}
      left join pg_roles u on u.rolname = ${user}`.execute(db);
    const found = rows[0]!;
    if (!found.role_exists) {
      throw new Error(
        `role ${role} does not exist: run the migrations (0012-function-roles) first`,
      );
    }
    if (found.user_exists && !found.member) {
      await sql`grant ${sql.id(role)} to ${sql.id(user)}`.execute(db);
    }
    grants.push({
      function: name,
      role,
      user,
      outcome: !found.user_exists ? 'missing' : found.member ? 'already a member' : 'granted',
    });
  }
  return grants;
}
