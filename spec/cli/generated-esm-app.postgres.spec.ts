import { expect } from 'chai';
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { POSTGRES_URL } from '../support/database';
import { PartnerApi } from '../support/partner-api';
import { deleteKeys, freshPrefix, REDIS_URL } from '../support/redis';
import { until } from './support/cli-world';
import { buildPackage, fillIn, installInto, run, tsc, writeFiles } from './support/installed-app';

/**
 * The second app: MikroORM on PostgreSQL in an ES module project ("type": "module", nodenext), without
 * @mikro-orm/migrations. Relative imports need `.js` there (TS2835 otherwise), and the payload table must be
 * created with what the app has.
 */
const APP_FILES: Record<string, string> = {
  'package.json': JSON.stringify({
    name: 'esm-shop', private: true, type: 'module',
    dependencies: { 'sync-machine': '0.1.0', '@mikro-orm/core': '6.6.16', '@mikro-orm/postgresql': '6.6.16', 'reflect-metadata': '0.2.2' },
  }),
  'tsconfig.json': `{
  // nodenext: relative imports of ES modules must name their .js file
  "compilerOptions": {
    "target": "ES2022", "module": "NodeNext", "moduleResolution": "NodeNext", "strict": true, "skipLibCheck": true,
    "experimentalDecorators": true, "emitDecoratorMetadata": true, "outDir": "dist", "rootDir": "src", "types": ["node"],
  },
  "include": ["src"],
}
`,
  'src/entities/order.ts': `import { Entity, PrimaryKey, Property } from '@mikro-orm/core';

@Entity({ tableName: 'orders' })
export class Order {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Property({ type: 'string' }) status!: string;
}
`,
  'src/orm.ts': `import 'reflect-metadata';
import { MikroORM } from '@mikro-orm/postgresql';
import { SyncMachinePayload } from 'sync-machine/mikro-orm';
import { Order } from './entities/order.js';

export function connect(): Promise<MikroORM> {
  const schema = process.env.DB_SCHEMA!;
  return MikroORM.init({
    clientUrl: process.env.DATABASE_URL, schema, entities: [Order, SyncMachinePayload],
    driverOptions: { connection: { options: \`-c search_path=\${schema}\` } },
  });
}
`,
  'src/setup.ts': `import { connect } from './orm.js';
import { createSyncMachinePayloads } from './migrations/create-sync-machine-payloads.js';

const orm = await connect();
await createSyncMachinePayloads(orm);
await orm.close(true);
console.log('payload table ready');
`,
  'src/app.ts': `import { SyncMachines } from 'sync-machine';
import { connect } from './orm.js';
import { Order } from './entities/order.js';
import { machines } from './sync-machines/index.js';

const orm = await connect();
const sync = await SyncMachines.start({ orm, redis: process.env.REDIS_URL!, prefix: process.env.SYNC_PREFIX, machines });
const em = orm.em.fork();
const order = em.create(Order, { status: process.argv[2] });
await em.flush();
console.log(\`placed order \${order.id}\`);
await sync.close();
await orm.close(true);
`,
  'sync-machine.config.js': `import { connect } from './dist/orm.js';
import { machines } from './dist/sync-machines/index.js';

export default async () => {
  const orm = await connect();
  return {
    orm, redis: process.env.REDIS_URL, prefix: process.env.SYNC_PREFIX, machines,
    worker: { concurrency: 5 },
    close: () => orm.close(true),
  };
};
`,
};

describe('a generated ES module app (MikroORM, nodenext, PostgreSQL, Redis, worker process)', function () {
  this.timeout(120_000);
  let dir: string;
  let app: string;
  let env: NodeJS.ProcessEnv;
  let admin: DataSource;
  let worker: ChildProcess | undefined;
  const api = new PartnerApi();
  const schema = `sm_esm_${randomBytes(5).toString('hex')}`;
  const prefix = freshPrefix('generated-esm-app');

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sync-machine-esm-app-'));
    const pkg = join(dir, 'sync-machine');
    app = join(dir, 'app');
    mkdirSync(pkg);
    admin = await new DataSource({ type: 'postgres', url: POSTGRES_URL }).initialize();
    await admin.query(`CREATE SCHEMA "${schema}"`);
    await admin.query(`CREATE TABLE "${schema}".orders (id serial PRIMARY KEY, status varchar NOT NULL)`);
    await Promise.all([buildPackage(pkg), api.start()]);
    writeFiles(app, APP_FILES);
    installInto(app, pkg, ['@mikro-orm', 'pg', 'reflect-metadata', '@types']);
    env = { ...process.env, DATABASE_URL: POSTGRES_URL, DB_SCHEMA: schema, REDIS_URL, SYNC_PREFIX: prefix, PARTNER_API_URL: api.url };
  });

  after(async () => {
    if (worker && worker.exitCode === null) worker.kill('SIGKILL');
    await api.stop();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.destroy();
    await deleteKeys(prefix);
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes .js imports and a payload-table setup that compile with tsc (nodenext), and publishes from node dist/worker.js', async () => {
    const sm = (...argv: string[]) => run(join(app, 'node_modules', '.bin', 'sync-machine'), argv, { cwd: app, env });
    const generated = await sm('generate', 'OrderToApiSync', '--subject', 'order');
    expect(generated.stdout).to.include('create  src/migrations/create-sync-machine-payloads.ts\n');
    expect(generated.stdout).to.include('Next (MikroORM):');
    const machineFile = join(app, 'src', 'sync-machines', 'order-to-api-sync.ts');
    const machine = readFileSync(machineFile, 'utf8');
    expect(machine).to.include("import { Order } from '../entities/order.js';");
    expect(readFileSync(join(app, 'src', 'sync-machines', 'index.ts'), 'utf8')).to.include("import { OrderToApiSync } from './order-to-api-sync.js';");
    writeFileSync(machineFile, fillIn(machine));

    await tsc(app, 'the generated ESM app');
    expect((await run(process.execPath, ['dist/setup.js'], { cwd: app, env })).stdout).to.equal('payload table ready\n');

    worker = spawn(process.execPath, ['dist/worker.js'], { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    worker.stdout!.on('data', (chunk) => { output += chunk; });
    worker.stderr!.on('data', (chunk) => { output += chunk; });
    const exited = new Promise<number | null>((resolve) => worker!.on('exit', resolve));
    await until(() => output.includes('sync-machine worker: running OrderToApiSync') || worker!.exitCode !== null, () => `the worker:\n${output}`, 30_000);
    expect(worker.exitCode, output).to.equal(null);

    const placed = await run(process.execPath, ['dist/app.js', 'shipped'], { cwd: app, env });
    expect(placed.stdout).to.equal('placed order 1\n');
    await until(() => api.publishes().length > 0, () => `a publish; the worker said:\n${output}`);
    expect(api.publishes().map((r) => [r.id, r.body])).to.deep.equal([['1', { id: '1', order_status: 'shipped' }]]);

    worker.kill('SIGTERM');
    expect(await exited, output).to.equal(0);
    expect(output).to.include('sync-machine worker: stopped.');
  });
});
