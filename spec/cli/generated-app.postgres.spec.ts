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

/** The app's own code: its entity, its DataSource, its boot (which places an order), and its sync-machine.config.js. */
const APP_FILES: Record<string, string> = {
  'package.json': JSON.stringify({ name: 'shop-app', private: true, dependencies: { 'sync-machine': '0.1.0', typeorm: '1.1.1', pg: '8.20.0' } }),
  'tsconfig.json': JSON.stringify({
    compilerOptions: {
      target: 'ES2022', module: 'commonjs', moduleResolution: 'node', strict: true, esModuleInterop: true, skipLibCheck: true,
      experimentalDecorators: true, emitDecoratorMetadata: true, outDir: 'dist', rootDir: 'src', types: ['node'],
    },
    include: ['src'],
  }),
  'src/entities/order.ts': `import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

@Entity('orders')
export class Order {
  @PrimaryGeneratedColumn() id!: number;
  @Column() status!: string;
}
`,
  'src/data-source.ts': `import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { SyncMachinePayload } from 'sync-machine/typeorm';
import { Order } from './entities/order';

const schema = process.env.DB_SCHEMA!;
export const dataSource = new DataSource({
  type: 'postgres', url: process.env.DATABASE_URL, schema, extra: { options: \`-c search_path=\${schema}\` },
  entities: [Order, SyncMachinePayload],
  migrations: [__dirname + '/migrations/*.js'],
});
`,
  'src/app.ts': `import { SyncMachines } from 'sync-machine';
import { dataSource } from './data-source';
import { Order } from './entities/order';
import { machines } from './sync-machines';

async function main(): Promise<void> {
  await dataSource.initialize();
  const sync = await SyncMachines.start({ orm: dataSource, redis: process.env.REDIS_URL!, prefix: process.env.SYNC_PREFIX, machines });
  const order = await dataSource.getRepository(Order).save({ status: process.argv[2] });
  console.log(\`placed order \${order.id}\`);
  await sync.close();
  await dataSource.destroy();
}
void main();
`,
  'sync-machine.config.js': `const { dataSource } = require('./dist/data-source');
const { machines } = require('./dist/sync-machines');

module.exports = async () => ({
  orm: await dataSource.initialize(),
  redis: process.env.REDIS_URL,
  prefix: process.env.SYNC_PREFIX,
  machines,
  worker: { concurrency: 5 },
  close: () => dataSource.destroy(),
});
`,
};

describe('a generated app (tsc, TypeORM migration, PostgreSQL, Redis, worker process)', function () {
  this.timeout(60_000);
  let dir: string;
  let app: string;
  let env: NodeJS.ProcessEnv;
  let admin: DataSource;
  let worker: ChildProcess | undefined;
  const api = new PartnerApi();
  const schema = `sm_app_${randomBytes(5).toString('hex')}`;
  const prefix = freshPrefix('generated-app');

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sync-machine-app-'));
    const pkg = join(dir, 'sync-machine');
    app = join(dir, 'app');
    mkdirSync(pkg);
    admin = await new DataSource({ type: 'postgres', url: POSTGRES_URL }).initialize();
    await admin.query(`CREATE SCHEMA "${schema}"`);
    // The app's own table, from its own migrations in real life.
    await admin.query(`CREATE TABLE "${schema}".orders (id serial PRIMARY KEY, status varchar NOT NULL)`);
    await Promise.all([buildPackage(pkg), api.start()]);

    writeFiles(app, APP_FILES);
    installInto(app, pkg, ['typeorm', 'pg', 'reflect-metadata', '@types']);
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

  it('generates a machine that compiles, migrates, and publishes from a worker started with node dist/worker.js', async () => {
    const sm = (...argv: string[]) => run(join(app, 'node_modules', '.bin', 'sync-machine'), argv, { cwd: app, env });
    const generated = await sm('generate', 'OrderToApiSync', '--subject', 'order');
    expect(generated.stdout).to.match(/create {2}src\/migrations\/\d{13}-CreateSyncMachinePayloads\.ts\n/);
    const machineFile = join(app, 'src', 'sync-machines', 'order-to-api-sync.ts');
    writeFileSync(machineFile, fillIn(readFileSync(machineFile, 'utf8')));

    await tsc(app, 'the generated app');
    const migrated = await run(process.execPath, [join(app, 'node_modules', 'typeorm', 'cli.js'), 'migration:run', '-d', 'dist/data-source.js'],
      { cwd: app, env });
    expect(migrated.stdout).to.match(/Migration CreateSyncMachinePayloads\d{13} has been executed successfully/);
    const columns = await admin.query(
      `SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'sync_machine_payloads' ORDER BY 1`, [schema]);
    expect(columns.map((c: { column_name: string }) => c.column_name))
      .to.deep.equal(['body', 'digest', 'generated_at', 'machine', 'published_at', 'subject_id', 'version']);

    worker = spawn(process.execPath, ['dist/worker.js'], { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    worker.stdout!.on('data', (chunk) => { output += chunk; });
    worker.stderr!.on('data', (chunk) => { output += chunk; });
    const exited = new Promise<number | null>((resolve) => worker!.on('exit', resolve));
    await until(() => output.includes('sync-machine worker: running OrderToApiSync') || worker!.exitCode !== null, () => `the worker:\n${output}`);
    expect(worker.exitCode, output).to.equal(null);

    const placed = await run(process.execPath, ['dist/app.js', 'shipped'], { cwd: app, env });
    expect(placed.stdout).to.equal('placed order 1\n');
    await until(() => api.publishes().length > 0, () => `a publish; the worker said:\n${output}`);
    expect(api.publishes().map((r) => [r.id, r.body])).to.deep.equal([['1', { id: '1', order_status: 'shipped' }]]);

    const status = JSON.parse((await sm('status', '--json')).stdout);
    expect(status[0].lastPublishes.map((p: { subjectId: string }) => p.subjectId)).to.deep.equal(['1']);
    expect(status[0].outcomes).to.include({ 'ensure-publication:published': 1 });

    worker.kill('SIGTERM');
    expect(await exited, output).to.equal(0);
    expect(output).to.include('sync-machine worker: stopped.');
  });
});
