import type { FunctionName } from './deployed-functions';

export interface Sizing {
  memory: string;
  /** vCPUs of an instance (`--cpu`): below 1, an instance serves one request at a time. */
  cpu: string;
  /** Requests one instance serves at once (`--concurrency`). */
  concurrency: number;
  timeoutSeconds: number;
  minInstances: number;
  maxInstances: number;
  /** PostgreSQL connections per instance (`DB_POOL_SIZE`); 0 for a function without one. */
  dbPoolSize: number;
}

/**
 * Each function's size, chosen from `pnpm bench --only instance` (docs/performance.md,
 * "Instances as deployed"): one vCPU, so that an instance may serve requests concurrently
 * (Cloud Run functions refuses a concurrency above 1 below 1 vCPU), and a concurrency at which
 * the measured CPU per order is no higher than one at a time while p99 stays within the
 * function's timeout many times over. The pools are as small as the concurrency lets them be,
 * and together within the database's connection budget (`databaseConnections`, checked by
 * the deploy plan). Consumers time out within their subscription's ack deadline (see the
 * topology), so Pub/Sub never redelivers a message that is still being handled. The intake
 * keeps one warm instance: it answers people. `DEPLOY_*` settings override these.
 */
export const functionSizing: Record<FunctionName, Sizing> = {
  'place-order': {
    memory: '512Mi',
    cpu: '1',
    concurrency: 16,
    timeoutSeconds: 30,
    minInstances: 1,
    maxInstances: 6,
    dbPoolSize: 4,
  },
  'process-order': {
    memory: '512Mi',
    cpu: '1',
    concurrency: 16,
    timeoutSeconds: 60,
    minInstances: 0,
    maxInstances: 4,
    dbPoolSize: 4,
  },
  // Holds a connection for each provider call (docs/payments.md): as many at once as its pool.
  'payment-handler': {
    memory: '512Mi',
    cpu: '1',
    concurrency: 6,
    timeoutSeconds: 60,
    minInstances: 0,
    maxInstances: 3,
    dbPoolSize: 6,
  },
  'analytics-loader': {
    memory: '512Mi',
    cpu: '1',
    concurrency: 16,
    timeoutSeconds: 60,
    minInstances: 0,
    maxInstances: 5,
    dbPoolSize: 0,
  },
  // One tick a minute, its steps side by side: below one vCPU, one request at a time.
  housekeeping: {
    memory: '256Mi',
    cpu: '0.167',
    concurrency: 1,
    timeoutSeconds: 60,
    minInstances: 0,
    maxInstances: 1,
    dbPoolSize: 4,
  },
};

/**
 * The Cloud SQL instance infra/ declares (`database_tier` in infra/inputs.tf) and what its
 * connections are spent on. Cloud SQL for PostgreSQL sets max_connections from the tier's
 * memory: 100 for 3.75 GB to 6 GB; PostgreSQL keeps `superuser_reserved_connections` (3) of
 * them for superusers. The rest go to the functions, at most every instance's pool, but for
 * `headroom`: migrations, Cloud SQL's own agents, operators' tools (psql, `pnpm` tools
 * against production) and the instances of a revision being replaced during a deploy, while
 * that revision is not scaled out (a fully scaled place-order alone holds 24).
 */
export const databaseConnections = {
  tier: 'db-custom-1-3840',
  maxConnections: 100,
  superuserReserved: 3,
  headroom: 17,
} as const;

/** Connections the functions' pools may hold together: max_connections less the rest. */
export const functionConnectionBudget =
  databaseConnections.maxConnections -
  databaseConnections.superuserReserved -
  databaseConnections.headroom;
