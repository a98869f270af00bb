import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { functions } from './deployed-functions';

/**
 * `pnpm run deploy` (dist/deploy.js) as a platform engineer runs it, against a fake `gcloud`
 * on PATH that records each invocation (one line, arguments separated by tabs).
 */
const program = join(__dirname, '..', 'dist', 'deploy.js');
const run = promisify(execFile);

const fakeGcloud = `#!/bin/sh
for arg in "$@"; do printf '%s\\t' "$arg"; done >> "$GCLOUD_LOG"
echo >> "$GCLOUD_LOG"
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
    PAYMENT_PROVIDER: 'stripe',
    AUTH_ISSUER: 'https://securetoken.google.com/my-project',
    AUTH_AUDIENCE: 'my-project',
    AUTH_JWKS_URL:
      'https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com',
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

/** What every function is deployed with, whatever it is. */
const everyFunction = (name: string) => [
  'functions',
  'deploy',
  name,
  '--gen2',
  '--runtime=nodejs24',
  '--region=europe-west1',
  '--project=my-project',
  `--source=functions/${name}/artifact`,
];
const builtBy = [
  '--build-service-account=projects/my-project/serviceAccounts/functions-builder@my-project.iam.gserviceaccount.com',
  '--docker-repository=projects/my-project/locations/europe-west1/repositories/functions',
];
const database =
  'CLOUD_SQL_INSTANCE=my-project:europe-west1:orders,DB_USER=fn-payment-handler@my-project.iam,DB_NAME=orders,DB_POOL_SIZE=6';

describe('pnpm run deploy', () => {
  it('--dry-run prints every command as a script and runs none', async () => {
    await rm(log, { force: true });
    const { stdout } = await run(process.execPath, [program, '--all', '--dry-run'], { env });
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(Object.keys(functions).length);
    expect(lines[0]).toMatch(/^gcloud functions deploy place-order --gen2 --runtime=nodejs24 /);
    expect(lines.find((line) => line.includes(' payment-handler '))).toContain(
      ' --set-secrets=STRIPE_SECRET_KEY=stripe-secret-key:latest ',
    );
    expect(stdout).not.toContain('sandbox');
    expect(await calls()).toEqual([]);
  });

  it('--dry-run prints a script that runs the same commands as the deploy itself', async () => {
    const { stdout } = await run(process.execPath, [program, '--all', '--dry-run'], { env });
    await rm(log, { force: true });
    await run('sh', ['-e', '-c', stdout], { env });
    const scripted = await calls();
    await rm(log, { force: true });
    await run(process.execPath, [program, '--all'], { env });
    expect(scripted).toHaveLength(Object.keys(functions).length);
    expect(scripted).toEqual(await calls());
  });

  it("the deploy workflow's checked plan runs exactly the deploy's commands, and refuses any other", async () => {
    // The deploy job's own step, as GitHub runs it: `shell: python3 {0}`.
    const workflow = parse(
      await readFile(
        join(__dirname, '..', '..', '..', '.github', 'workflows', 'deploy.yml'),
        'utf8',
      ),
    ) as { jobs: { deploy: { steps: { name?: string; shell?: string; run?: string }[] } } };
    const step = workflow.jobs.deploy.steps.find((s) => s.name === 'Deploy the checked plan')!;
    expect(step.shell).toBe('python3 {0}');
    const checker = join(dir, 'deploy-step.py');
    await writeFile(checker, step.run!);
    const { stdout } = await run(process.execPath, [program, '--all', '--plan-json'], { env });
    const plan = JSON.parse(stdout) as string[][];
    const deployWith = async (commands: unknown) => {
      await writeFile(join(dir, 'deploy-plan.json'), JSON.stringify(commands));
      await rm(log, { force: true });
      return run('python3', [checker], { cwd: dir, env: { ...env, PROJECT: 'my-project' } });
    };

    await deployWith(plan);
    const checked = await calls();
    await rm(log, { force: true });
    await run(process.execPath, [program, '--all'], { env });
    expect(checked).toHaveLength(Object.keys(functions).length);
    expect(checked).toEqual(await calls());

    const [first, ...rest] = plan as [string[], ...string[][]];
    const tampered: [string, unknown][] = [
      ['another command', [['gcloud', 'auth', 'print-access-token'], ...plan]],
      ['another function', [[...first.slice(0, 3), 'exfiltrate', ...first.slice(4)], ...rest]],
      [
        'another artifact',
        [first.map((a) => a.replace(/^--source=.*/, '--source=/tmp/x')), ...rest],
      ],
      [
        'another project',
        [first.map((a) => a.replace(/^--project=.*/, '--project=evil')), ...rest],
      ],
      ['an unknown flag', [[...first, '--impersonate-service-account=x@y'], ...rest]],
      ['no argv array', ['gcloud functions deploy place-order']],
    ];
    for (const [what, commands] of tampered) {
      await expect(deployWith(commands)).rejects.toMatchObject({
        stderr: expect.stringContaining('refused: '),
      });
      expect({ what, calls: await calls() }).toEqual({ what, calls: [] });
    }
  });

  it('--all deploys every function in order, each as its own account, built by the build account', async () => {
    await rm(log, { force: true });
    const { stderr } = await run(process.execPath, [program, '--all'], { env });
    expect(stderr).toContain(
      'deployed place-order, process-order, payment-handler, analytics-loader, housekeeping',
    );
    const recorded = await calls();
    expect(recorded.map((call) => call.slice(0, 3))).toEqual(
      Object.keys(functions).map((name) => ['functions', 'deploy', name]),
    );
    expect(recorded[0]).toEqual([
      ...everyFunction('place-order'),
      '--entry-point=placeOrder',
      '--service-account=fn-place-order@my-project.iam.gserviceaccount.com',
      ...builtBy,
      '--trigger-http',
      '--ingress-settings=all',
      '--memory=512Mi',
      '--cpu=1',
      '--concurrency=16',
      '--timeout=30s',
      '--min-instances=1',
      '--max-instances=6',
      '--vpc-connector=orders-functions',
      '--egress-settings=private-ranges-only',
      '--set-env-vars=GOOGLE_CLOUD_PROJECT=my-project,LOG_LEVEL=info,CLOUD_SQL_INSTANCE=my-project:europe-west1:orders,DB_USER=fn-place-order@my-project.iam,DB_NAME=orders,DB_POOL_SIZE=4,AUTH_ISSUER=https://securetoken.google.com/my-project,AUTH_AUDIENCE=my-project,AUTH_JWKS_URL=https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com',
      '--quiet',
    ]);
    expect(recorded[2]).toEqual([
      ...everyFunction('payment-handler'),
      '--entry-point=handlePayment',
      '--service-account=fn-payment-handler@my-project.iam.gserviceaccount.com',
      ...builtBy,
      '--trigger-http',
      '--ingress-settings=internal-only',
      '--memory=512Mi',
      '--cpu=1',
      '--concurrency=6',
      '--timeout=60s',
      '--min-instances=0',
      '--max-instances=3',
      '--vpc-connector=orders-functions',
      '--egress-settings=private-ranges-only',
      `--set-env-vars=GOOGLE_CLOUD_PROJECT=my-project,LOG_LEVEL=info,${database},PAYMENT_PROVIDER=stripe`,
      '--set-secrets=STRIPE_SECRET_KEY=stripe-secret-key:latest',
      '--quiet',
    ]);
  });

  it('refuses the sandbox provider unless --test-project names the project deployed', async () => {
    await rm(log, { force: true });
    const sandbox = { ...env, PAYMENT_PROVIDER: 'sandbox' };
    await expect(
      run(process.execPath, [program, '--all', '--dry-run'], { env: sandbox }),
    ).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining(
        'PAYMENT_PROVIDER=sandbox charges no one: the deploy refuses it unless --test-project my-project names the project being deployed',
      ),
    });
    await expect(
      run(process.execPath, [program, 'payment-handler', '--test-project', 'prod-project'], {
        env: sandbox,
      }),
    ).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining(
        '--test-project prod-project is not the project being deployed',
      ),
    });
    expect(await calls()).toEqual([]);

    await run(process.execPath, [program, 'payment-handler', '--test-project', 'my-project'], {
      env: sandbox,
    });
    const [deployed] = await calls();
    expect(deployed).toEqual(
      expect.arrayContaining([
        `--set-env-vars=GOOGLE_CLOUD_PROJECT=my-project,LOG_LEVEL=info,${database},PAYMENT_PROVIDER=sandbox,SANDBOX_TEST_PROJECT=my-project`,
        '--clear-secrets',
      ]),
    );
    expect(deployed?.some((arg) => arg.startsWith('--set-secrets'))).toBe(false);
  });

  it('refuses a sizing whose pools could hold more connections than the database leaves them', async () => {
    await rm(log, { force: true });
    await expect(
      run(process.execPath, [program, 'process-order'], {
        env: { ...env, DEPLOY_MAX_INSTANCES: '30' },
      }),
    ).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining(
        'the functions could open 166 database connections (max instances x connections each: place-order 6 x 4, process-order 30 x 4, payment-handler 3 x 6, housekeeping 1 x 4), more than the 80 that db-custom-1-3840 leaves them',
      ),
    });
    expect(await calls()).toEqual([]);
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
        /CLOUD_SQL_INSTANCE: .*DEPLOY_PROJECT: required \(or GOOGLE_CLOUD_PROJECT\); DEPLOY_REGION: .*DEPLOY_VPC_CONNECTOR: .*PAYMENT_PROVIDER: required/,
      ),
    });
    await expect(run(process.execPath, [program, 'place-ordr'], { env })).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('unknown function place-ordr'),
    });
  });
});
