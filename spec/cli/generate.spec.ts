import { expect } from 'chai';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInProcess } from './support/cli-world';

const ORDER_ENTITY = `import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

@Entity('orders')
export class Order {
  @PrimaryGeneratedColumn() orderNo!: number;
  @Column() status!: string;
}
`;

const CUSTOMER_ENTITY = `import { Entity, PrimaryGeneratedColumn } from 'typeorm';

@Entity()
export default class Customer {
  @PrimaryGeneratedColumn() id!: number;
}
`;

/** The generator on a temporary app folder: what it writes, that a second run changes nothing, and what it refuses. */
describe('sync-machine generate', () => {
  let app: string;
  const read = (path: string) => readFileSync(join(app, path), 'utf8');
  const generate = (...argv: string[]) => runInProcess(['generate', ...argv], app);

  beforeEach(() => {
    app = mkdtempSync(join(tmpdir(), 'sync-machine-generate-'));
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'shop', dependencies: { typeorm: '1.1.1' } }));
    mkdirSync(join(app, 'src', 'entities'), { recursive: true });
    writeFileSync(join(app, 'src', 'entities', 'order.ts'), ORDER_ENTITY);
  });
  afterEach(() => rmSync(app, { recursive: true, force: true }));

  it('writes the machine with every hook, registers it, and adds the TypeORM migration and worker.ts', async () => {
    const run = await generate('OrderToApiSync', '--subject', 'order');
    expect(run.code, run.stderr).to.equal(0);
    const [migration] = readdirSync(join(app, 'src', 'migrations'));
    expect(migration).to.match(/^\d{13}-CreateSyncMachinePayloads\.ts$/);
    expect(run.stdout).to.include([
      'create  src/sync-machines/order-to-api-sync.ts',
      'create  src/sync-machines/index.ts',
      `create  src/migrations/${migration}`,
      'create  src/worker.ts',
    ].join('\n'));

    const machine = read('src/sync-machines/order-to-api-sync.ts');
    expect(machine).to.include("import { Order } from '../entities/order';"); // found under src
    expect(machine).to.include('@SyncMachine({ subject: Order })\n');
    expect(machine).to.include('@ListenTo(Order)\n');
    expect(machine).to.include('String(order.orderNo)'); // the primary key the entity declares
    expect(machine).to.include('async publish(order: Order, payload: OrderPayload, ctx: PublishContext<OrderPayload>)');
    expect(machine).to.include('signal: ctx.timeout(10_000)');
    for (const [hook, note] of [
      ['// @SubjectIdsFrom(Customer)', 'Required for each @ListenTo entity other than Order'],
      ['@CheckPublishable()', 'Optional: returning false'],
      ['@Build()', 'Required: the payload'],
      ['@Publish()', 'Required: sends the payload'],
      ['@AfterPublish()', 'Optional: runs after a publish'],
      ['@Unpublish()', 'Optional: the Order was removed'],
    ]) {
      expect(machine, hook).to.include(hook);
      expect(machine.indexOf(note), note).to.be.within(0, machine.indexOf(hook));
    }
    expect(read('src/sync-machines/index.ts')).to.include(
      "import { OrderToApiSync } from './order-to-api-sync';\n\nexport const machines = [\n  OrderToApiSync,\n];\n");
    const stamp = migration.slice(0, 13);
    expect(read(`src/migrations/${migration}`)).to.include(
      `export class CreateSyncMachinePayloads${stamp} extends CreateSyncMachinePayloads1764288000000 {\n` +
      `  name = 'CreateSyncMachinePayloads${stamp}';`);
    expect(read('src/worker.ts')).to.include("runCli(['worker', ...process.argv.slice(2)]);");
    expect(machine).to.include('//   return customer.orderIds;   // a @RelationId');
  });

  it('run twice duplicates nothing; a second machine is appended to the same index and shares the migration', async () => {
    await generate('OrderToApiSync', '--subject', 'order');
    const before = read('src/sync-machines/index.ts');
    const again = await generate('OrderToApiSync', '--subject', 'order');
    expect(again.code).to.equal(0);
    expect(again.stdout).to.match(/identical {2}src\/sync-machines\/order-to-api-sync\.ts\n/);
    expect(again.stdout).to.include('identical  src/sync-machines/index.ts  (OrderToApiSync is registered)');
    expect(again.stdout).to.match(/ {3}exists {2}src\/migrations\/\d+-CreateSyncMachinePayloads\.ts {2}\(the payload table has its migration\)/);
    expect(read('src/sync-machines/index.ts')).to.equal(before);

    writeFileSync(join(app, 'src', 'entities', 'customer.ts'), CUSTOMER_ENTITY);
    const second = await generate('CustomerToCrmSync', '--subject', 'customer');
    expect(second.code, second.stderr).to.equal(0);
    expect(second.stdout).to.include('update  src/sync-machines/index.ts  (registered CustomerToCrmSync)');
    expect(second.stderr).to.equal('');
    expect(read('src/sync-machines/customer-to-crm-sync.ts')).to.include("import Customer from '../entities/customer';"); // a default export
    expect(read('src/sync-machines/index.ts')).to.include(
      "import { OrderToApiSync } from './order-to-api-sync';\nimport { CustomerToCrmSync } from './customer-to-crm-sync';\n\n" +
      'export const machines = [\n  OrderToApiSync,\n  CustomerToCrmSync,\n];\n');
    expect(readdirSync(join(app, 'src', 'migrations'))).to.have.length(1);
  });

  it('refuses a subject with no entity class, with the entities it found, and writes nothing', async () => {
    // It used to warn, write the machine with a guessed import and register it: the app then failed to compile.
    const typo = await generate('OrderToApiSync', '--subject', 'odrer');
    expect(typo.code).to.equal(2);
    expect(typo.stderr).to.equal('sync-machine: --subject odrer: no `export class Odrer` under src; did you mean Order? ' +
      'Its entities: Order. Write the entity first, or pass --dir with the source folder that holds it (default src). ' +
      'Nothing was written.\n');
    const elsewhere = await generate('InvoiceSync', '--subject', 'invoice', '--dir', 'lib');
    expect(elsewhere.code).to.equal(2);
    expect(elsewhere.stderr).to.match(/^sync-machine: --subject invoice: no `export class Invoice` under lib\. It declares no @Entity class\./);
    expect(readdirSync(join(app, 'src'))).to.deep.equal(['entities']);
  });

  it('registers in an index the app wrote itself, once, with instances too', async () => {
    mkdirSync(join(app, 'src', 'sync-machines'));
    writeFileSync(join(app, 'src', 'sync-machines', 'index.ts'),
      "import { api } from '../api';\nimport { Legacy } from './legacy';\n\nexport const machines: object[] = [new Legacy(api)];\n");
    await generate('OrderToApiSync', '--subject', 'order');
    await generate('OrderToApiSync', '--subject', 'order');
    expect(read('src/sync-machines/index.ts')).to.equal("import { api } from '../api';\nimport { Legacy } from './legacy';\n" +
      "import { OrderToApiSync } from './order-to-api-sync';\n\nexport const machines: object[] = [new Legacy(api), OrderToApiSync];\n");
  });

  it('never overwrites a changed machine file without --force, and writes nothing when it refuses', async () => {
    await generate('OrderToApiSync', '--subject', 'order');
    const edited = read('src/sync-machines/order-to-api-sync.ts').replace('id: String(order.orderNo),', 'id: `order-${order.orderNo}`,');
    writeFileSync(join(app, 'src', 'sync-machines', 'order-to-api-sync.ts'), edited);
    rmSync(join(app, 'src', 'worker.ts'));

    const refused = await generate('OrderToApiSync', '--subject', 'order');
    expect(refused.code).to.equal(1);
    expect(refused.stderr).to.equal('sync-machine: src/sync-machines/order-to-api-sync.ts exists and differs from what generate ' +
      'would write: nothing was written. Pass --force to overwrite it (your changes to it are lost), or choose another machine name.\n');
    expect(readdirSync(join(app, 'src'))).to.not.include('worker.ts');

    const forced = await generate('OrderToApiSync', '--subject', 'order', '--force');
    expect(forced.code).to.equal(0);
    expect(forced.stdout).to.match(/overwrite {2}src\/sync-machines\/order-to-api-sync\.ts\n/);
    expect(forced.stdout).to.match(/overwrite {2}src\/migrations\/\d+-CreateSyncMachinePayloads\.ts\n/);
    expect(read('src/sync-machines/order-to-api-sync.ts')).to.not.equal(edited);
    expect(readdirSync(join(app, 'src', 'migrations'))).to.have.length(1);
  });

  it('writes a MikroORM Migration class when the app has @mikro-orm/migrations (or package.json has MikroORM only)', async () => {
    writeFileSync(join(app, 'package.json'), JSON.stringify({
      dependencies: { '@mikro-orm/core': '6.6.16', '@mikro-orm/sqlite': '6.6.16', '@mikro-orm/migrations': '6.6.16' },
    }));
    const run = await generate('OrderToApiSync', '--subject', 'order', '--dir', 'src');
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.include('Next (MikroORM):');
    expect(run.stdout).to.include("with MikroORM's migrator (@mikro-orm/migrations)");
    const [migration] = readdirSync(join(app, 'src', 'migrations'));
    expect(migration).to.match(/^Migration\d{14}_CreateSyncMachinePayloads\.ts$/);
    const text = read(`src/migrations/${migration}`);
    expect(text).to.include("import { Migration } from '@mikro-orm/migrations';");
    expect(text).to.include(`export class ${migration.replace('.ts', '')} extends Migration {`);
    expect(text).to.include("for (const sql of payloadTableSql('sqlite', this.config.get('schema')).up) this.addSql(sql);");
    // The mapper example in MikroORM's idiom: a collection, and a removed row's snapshot checked first.
    const machine = read('src/sync-machines/order-to-api-sync.ts');
    expect(machine).to.include("//   if (!('orders' in customer)) return [];");
    expect(machine).to.include('//   return (await customer.orders.loadItems()).map((order) => order.id);');
    expect(machine).to.not.include('customer.orderIds');
  });

  it('without @mikro-orm/migrations writes a function that creates the table through the ORM, importing nothing missing', async () => {
    writeFileSync(join(app, 'package.json'), JSON.stringify({ dependencies: { '@mikro-orm/core': '6.6.16', '@mikro-orm/postgresql': '6.6.16' } }));
    const run = await generate('OrderToApiSync', '--subject', 'order');
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.include('create  src/migrations/create-sync-machine-payloads.ts\n');
    expect(run.stdout).to.include('`await createSyncMachinePayloads(orm)` from src/migrations/create-sync-machine-payloads.ts');
    const text = read('src/migrations/create-sync-machine-payloads.ts');
    expect(text).to.not.include('@mikro-orm/migrations');
    expect(text).to.include("import { createPayloadTable } from 'sync-machine/mikro-orm';");
    expect(text).to.include('export async function createSyncMachinePayloads(orm: MikroORM): Promise<void> {');
    // Found again on the next run: one payload table per app.
    const again = await generate('OrderToApiSync', '--subject', 'order');
    expect(again.stdout).to.include('exists  src/migrations/create-sync-machine-payloads.ts  (the payload table has its migration)');
  });

  for (const [what, files] of [
    ['package.json "type": "module"', { 'package.json': JSON.stringify({ type: 'module', dependencies: { typeorm: '1.1.1' } }) }],
    ['tsconfig "module": "NodeNext" (with comments)', { 'tsconfig.json': '{\n  // ESM output\n  "compilerOptions": { "module": "NodeNext", },\n}\n' }],
    ['tsconfig "moduleResolution": "node16"', { 'tsconfig.json': '{ "compilerOptions": { "module": "node16", "moduleResolution": "node16" } }' }],
  ] as Array<[string, Record<string, string>]>) {
    it(`writes relative imports with .js in an ESM project (${what})`, async () => {
      for (const [file, text] of Object.entries(files)) writeFileSync(join(app, file), text);
      expect((await generate('OrderToApiSync', '--subject', 'order')).code).to.equal(0);
      expect(read('src/sync-machines/order-to-api-sync.ts')).to.include("import { Order } from '../entities/order.js';");
      expect(read('src/sync-machines/index.ts')).to.include("import { OrderToApiSync } from './order-to-api-sync.js';");
      // A second machine is registered with .js too.
      expect((await generate('OrderAuditSync', '--subject', 'order')).code).to.equal(0);
      expect(read('src/sync-machines/index.ts')).to.include("import { OrderAuditSync } from './order-audit-sync.js';");
    });
  }

  it('keeps CommonJS imports without an extension (tsconfig "module": "commonjs")', async () => {
    writeFileSync(join(app, 'tsconfig.json'), '{ "compilerOptions": { "module": "commonjs", "moduleResolution": "node" } }');
    expect((await generate('OrderToApiSync', '--subject', 'order')).code).to.equal(0);
    expect(read('src/sync-machines/order-to-api-sync.ts')).to.include("import { Order } from '../entities/order';");
  });

  it('refuses bad names and missing options with exit code 2', async () => {
    const lower = await generate('order_sync', '--subject', 'order');
    expect([lower.code, lower.stderr]).to.deep.equal(
      [2, 'sync-machine: "order_sync" is not a class name: write the machine name in PascalCase, e.g. OrderToApiSync.\n']);
    const noSubject = await generate('OrderToApiSync');
    expect(noSubject.code).to.equal(2);
    expect(noSubject.stderr).to.include("error: required option '--subject <entity>' not specified");
    const badOrm = await generate('OrderToApiSync', '--subject', 'order', '--orm', 'sequelize');
    expect(badOrm.code).to.equal(2);
    expect(readdirSync(join(app, 'src'))).to.deep.equal(['entities']);
  });
});
