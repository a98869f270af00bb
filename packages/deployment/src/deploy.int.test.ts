import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { functions } from './deployed-functions';

/**
 * `pnpm run deploy` (dist/deploy.js) as a platform engineer runs it, against a fake `gcloud`
 * on PATH that records each invocation (one line, arguments separated by tabs) and answers
 * the describe calls as gcloud would.
 */
const program = join(__dirname, '..', 'dist', 'deploy.js');
const run = promisify(execFile);

const fakeGcloud = `#!/bin/sh
for arg in "$@"; do printf '%s\\t' "$arg"; done >> "$GCLOUD_LOG"
echo >> "$GCLOUD_LOG"
case "$1 $2 $3" in
  "projects describe my-project") echo 123456789 ;;
  "functions describe "*) echo "projects/my-project/locations/europe-west1/triggers/$3-trigger" ;;
  "eventarc triggers describe") echo "projects/my-project/subscriptions/eventarc-$(basename "$4")-sub" ;;
esac
if [ "$1 $2" = "functions deploy" ] && [ "$3" = "$GCLOUD_FAIL_DEPLOY" ]; then
  echo "ERROR: (gcloud.functions.deploy) quota exceeded" >&2; exit 1
fi
exit 0
`;

let dir: string;
let log: string;
let env: Record<string, string | undefined>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'deploy-'));
  await mkdir(join(dir, 'bin'));
  await writeFile(join(dir, 'bin', 'gcloud'), fakeGcloud);
  await chmod(join(dir, 'bin', 'gcloud'), 0o755);
  for (const name of Object.keys(functions)) {
    await mkdir(join(dir, 'functions', name, 'artifact'), { recursive: true });
    await writeFile(join(dir, 'functions', name, 'artifact', 'package.json'), '{}');
  }
  log = join(dir, 'gcloud.log');
  env = {
    PATH: `${join(dir, 'bin')}:${process.env.PATH}`,
    GCLOUD_LOG: log,
    DEPLOY_ROOT: dir,
    DEPLOY_PROJECT: 'my-project',
    DEPLOY_REGION: 'europe-west1',
    CLOUD_SQL_INSTANCE: 'my-project:europe-west1:orders',
    DEPLOY_VPC_CONNECTOR: 'orders-functions',
  };
});

afterAll(() => rm(dir, { recursive: true, force: true }));

async function calls(): Promise<string[][]> {
  const text = await readFile(log, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split('\t').slice(0, -1));
}

const member = 'serviceAccount:service-123456789@gcp-sa-pubsub.iam.gserviceaccount.com';

function consumerCalls(name: string, topic: string) {
  const subscription = `projects/my-project/subscriptions/eventarc-${name}-trigger-sub`;
  return [
    expect.arrayContaining(['functions', 'deploy', name, `--trigger-topic=${topic}`]),
    [
      'functions',
      'add-invoker-policy-binding',
      name,
      '--region=europe-west1',
      '--project=my-project',
      `--member=serviceAccount:fn-${name}@my-project.iam.gserviceaccount.com`,
    ],
    [
      'functions',
      'describe',
      name,
      '--gen2',
      '--region=europe-west1',
      '--project=my-project',
      '--format=value(eventTrigger.trigger)',
    ],
    [
      'eventarc',
      'triggers',
      'describe',
      `projects/my-project/locations/europe-west1/triggers/${name}-trigger`,
      '--location=europe-west1',
      '--project=my-project',
      '--format=value(transport.pubsub.subscription)',
    ],
    [
      'pubsub',
      'subscriptions',
      'update',
      subscription,
      '--project=my-project',
      `--dead-letter-topic=projects/my-project/topics/${topic}-dlq`,
      '--max-delivery-attempts=10',
      '--min-retry-delay=1s',
      '--max-retry-delay=60s',
      '--ack-deadline=60',
    ],
    [
      'pubsub',
      'topics',
      'add-iam-policy-binding',
      `${topic}-dlq`,
      '--project=my-project',
      `--member=${member}`,
      '--role=roles/pubsub.publisher',
    ],
    [
      'pubsub',
      'subscriptions',
      'add-iam-policy-binding',
      subscription,
      '--project=my-project',
      `--member=${member}`,
      '--role=roles/pubsub.subscriber',
    ],
  ];
}

describe('pnpm run deploy', () => {
  it('--dry-run prints every command as a script and runs none', async () => {
    await rm(log, { force: true });
    const { stdout } = await run(process.execPath, [program, '--all', '--dry-run'], { env });
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(1 + 1 + 4 * 7);
    expect(lines[0]).toBe(
      `PROJECT_NUMBER=$(gcloud projects describe my-project '--format=value(projectNumber)')`,
    );
    expect(lines[1]).toMatch(/^gcloud functions deploy place-order --gen2 --runtime=nodejs24 /);
    expect(lines).toContain(
      `SUBSCRIPTION_PAYMENT_HANDLER=$(gcloud eventarc triggers describe "$TRIGGER_PAYMENT_HANDLER" --location=europe-west1 --project=my-project '--format=value(transport.pubsub.subscription)')`,
    );
    expect(await calls()).toEqual([]);
  });

  it('--dry-run prints a script that runs the same commands as the deploy itself', async () => {
    const { stdout } = await run(process.execPath, [program, '--all', '--dry-run'], { env });
    await rm(log, { force: true });
    await run('sh', ['-e', '-c', stdout], { env });
    const scripted = await calls();
    await rm(log, { force: true });
    await run(process.execPath, [program, '--all'], { env });
    expect(scripted).toHaveLength(30);
    expect(scripted).toEqual(await calls());
  });

  it('--all deploys every function in order and reconciles each consumer subscription', async () => {
    await rm(log, { force: true });
    const { stderr } = await run(process.execPath, [program, '--all'], { env });
    expect(stderr).toContain(
      'deployed place-order, process-order, payment-handler, analytics-loader, housekeeping',
    );
    const recorded = await calls();
    expect(recorded).toEqual([
      ['projects', 'describe', 'my-project', '--format=value(projectNumber)'],
      expect.arrayContaining(['functions', 'deploy', 'place-order', '--trigger-http']),
      ...consumerCalls('process-order', 'order-saga'),
      ...consumerCalls('payment-handler', 'payments'),
      ...consumerCalls('analytics-loader', 'analytics'),
      ...consumerCalls('housekeeping', 'housekeeping'),
    ]);
    expect(recorded[1]).toEqual([
      'functions',
      'deploy',
      'place-order',
      '--gen2',
      '--runtime=nodejs24',
      '--region=europe-west1',
      '--project=my-project',
      '--source=functions/place-order/artifact',
      '--entry-point=placeOrder',
      '--service-account=fn-place-order@my-project.iam.gserviceaccount.com',
      '--trigger-http',
      '--ingress-settings=all',
      '--no-allow-unauthenticated',
      '--memory=512Mi',
      '--timeout=30s',
      '--min-instances=1',
      '--max-instances=20',
      '--vpc-connector=orders-functions',
      '--egress-settings=private-ranges-only',
      '--set-env-vars=GOOGLE_CLOUD_PROJECT=my-project,LOG_LEVEL=info,CLOUD_SQL_INSTANCE=my-project:europe-west1:orders,DB_USER=fn-place-order@my-project.iam,DB_NAME=orders,DB_POOL_SIZE=5',
      '--quiet',
    ]);
  });

  it('stops at the first failing command, and says which', async () => {
    await rm(log, { force: true });
    const failing = run(
      process.execPath,
      [program, 'place-order', 'payment-handler', 'housekeeping'],
      {
        env: { ...env, GCLOUD_FAIL_DEPLOY: 'payment-handler' },
      },
    );
    await expect(failing).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(
        /quota exceeded[\s\S]*exit 1: gcloud functions deploy payment-handler /,
      ),
    });
    const deployed = (await calls()).filter((call) => call[1] === 'deploy').map((call) => call[2]);
    expect(deployed).toEqual(['place-order', 'payment-handler']);
  });

  it('refuses to deploy without the artifact, and names the command that builds it', async () => {
    await rm(log, { force: true });
    await rm(join(dir, 'functions', 'housekeeping', 'artifact'), { recursive: true });
    const refused = run(process.execPath, [program, 'housekeeping'], { env });
    await expect(refused).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining(
        'no artifact for housekeeping (functions/<name>/artifact): run `pnpm bundle` first',
      ),
    });
    expect(await calls()).toEqual([]);
  });

  it('names every missing setting and usage mistake', async () => {
    await expect(
      run(process.execPath, [program, '--all'], {
        env: { PATH: env.PATH, DEPLOY_REGION: 'Europe' },
      }),
    ).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(
        /CLOUD_SQL_INSTANCE: .*DEPLOY_PROJECT: required \(or GOOGLE_CLOUD_PROJECT\); DEPLOY_REGION: .*DEPLOY_VPC_CONNECTOR: /,
      ),
    });
    await expect(run(process.execPath, [program, 'place-ordr'], { env })).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('unknown function place-ordr'),
    });
  });
});
