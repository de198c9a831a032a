import { expect } from 'chai';
import { MikroORM } from '@mikro-orm/better-sqlite';
import { Entity, ManyToOne, Property } from '@mikro-orm/core';
import { SyncMachinePayload } from '../../adapters/mikro-orm';
import { Build, ConfigurationError, ListenTo, Publish, SubjectIdsFrom, SyncMachine, SyncMachines } from '../../lib';
import { MikroOrmTestDatabase } from '../support/orms/mikro-orm-database';
import { Customer, Order } from '../support/orms/mikro-orm-shop';
import { freshPrefix, REDIS_URL } from '../support/redis';
import { Order as TypeOrmOrder } from '../support/shop';

/** What start() says about a MikroORM setup: the adapter's part of the misuse messages. */
describe('SyncMachines.start on MikroORM refuses misuse with the class and the fix', () => {
  const prefix = freshPrefix('mikro-validation');
  let db: MikroOrmTestDatabase;
  let orm: MikroORM;
  before(async () => {
    db = await MikroOrmTestDatabase.create('sqlite');
    orm = await db.connect() as MikroORM;
  });
  after(async () => db.destroy());

  async function refusal(machines: unknown[], extra: Record<string, unknown> = {}): Promise<string> {
    try {
      const sync = await SyncMachines.start({ orm, redis: REDIS_URL, prefix, machines, ...extra });
      await sync.close();
    } catch (error) {
      expect(error).to.be.instanceOf(ConfigurationError);
      return (error as Error).message;
    }
    throw new Error('start() accepted a misconfigured machine');
  }

  it('an entity class of another ORM with the same name is not this setup\'s entity', async () => {
    @SyncMachine({ subject: TypeOrmOrder })
    class WrongOrm { @Build() b() { return {}; } @Publish() p() {} }
    expect(await refusal([WrongOrm])).to.equal(
      "WrongOrm: its subject Order is not an entity of this MikroORM setup: add it to the ORM's entities (or fix the import).");
  });

  it('its EntityManager given as `orm` is named as such, with the instance to pass instead', async () => {
    @SyncMachine({ subject: Order }) @ListenTo(Order)
    class Fine { @Build() b() { return {}; } @Publish() p() {} }
    expect(await refusal([Fine], { orm: orm.em })).to.match(new RegExp('^orm: expected a TypeORM DataSource or a MikroORM ' +
      'instance, got a MikroORM EntityManager \\(pass the MikroORM instance, not `orm.em`\\): '));
  });

  it('an unknown field names the MikroORM properties', async () => {
    // The compiler refuses it already; start refuses it too, for code it could not check (entities typed as Function).
    // @ts-expect-error 'nickname' is not a property of Customer
    @SyncMachine({ subject: Order }) @ListenTo(Customer, { fields: ['firstName', 'nickname'] })
    class BadField { @Build() b() { return {}; } @Publish() p() {} @SubjectIdsFrom(Customer) m() { return []; } }
    expect(await refusal([BadField])).to.equal('BadField: @ListenTo(Customer) names the field "nickname", which Customer ' +
      'does not have: use one of id, firstName, lastName, email.');
  });

  it('a one-to-many collection in `fields`: its rows are the other entity\'s, so it would never fire', async () => {
    @SyncMachine({ subject: Order }) @ListenTo(Customer, { fields: ['firstName', 'orders'] })
    class Collected { @Build() b() { return {}; } @Publish() p() {} @SubjectIdsFrom(Customer) m() { return []; } }
    expect(await refusal([Collected])).to.equal('Collected: @ListenTo(Customer) names the field "orders", which is kept ' +
      "in Order's rows (Order.customer): moving rows in or out of it changes no Customer row, so it would never fire. " +
      "Listen to Order instead: @ListenTo(Order, { fields: ['customer'] }), with a @SubjectIdsFrom(Order) method that " +
      'returns the ids it affects (none when Order is the subject).');
  });

  it('a join entity keyed on its two relations: the fix is a key of its own, not dropping its @ListenTo', async () => {
    @Entity({ tableName: 'order_stock' })
    class OrderStock {
      @ManyToOne(() => Order, { primary: true }) order!: Order;
      @Property({ type: 'string', primary: true }) warehouse!: string;
      @Property({ type: 'integer' }) stock!: number;
    }
    @SyncMachine({ subject: Order }) @ListenTo(OrderStock)
    class Stocked { @Build() b() { return {}; } @Publish() p() {} @SubjectIdsFrom(OrderStock) m(s: OrderStock) { return s.order.id; } }
    const joined = await MikroORM.init({ dbName: ':memory:', entities: [Customer, Order, OrderStock, SyncMachinePayload] });
    try {
      // Before: "…listen to an entity that has one and map from there": a trial dropped its @ListenTo, and stock
      // changes then reached no subject.
      expect(await refusal([Stocked], { orm: joined })).to.equal('Stocked: @ListenTo entity OrderStock has a composite ' +
        "primary key (order, warehouse): sync-machine tracks rows by a single-column primary key, so it cannot capture " +
        "OrderStock's changes, and leaving it unlistened leaves its changes unpublished. Give OrderStock a generated key " +
        "of its own and keep (order, warehouse) unique: `@PrimaryKey() id!: number` and `@Unique({ properties: ['order', " +
        "'warehouse'] })` on the class, with `primary: true` dropped from order and warehouse, and a migration that adds " +
        'the column. Then listen to it and map to the subjects from its relations.');
    } finally {
      await joined.close(true);
    }
  });

  it('an ORM that does not know SyncMachinePayload, and one whose table is missing', async () => {
    @SyncMachine({ subject: Order }) @ListenTo(Order)
    class Fine { @Build() b() { return {}; } @Publish() p() {} }
    const bare = await MikroORM.init({ dbName: ':memory:', entities: [Customer, Order] });
    try {
      expect(await refusal([Fine], { orm: bare })).to.equal(
        "The MikroORM config does not know the SyncMachinePayload entity: import { SyncMachinePayload } from 'sync-machine/mikro-orm', " +
        'add it to `entities`, and create its table with createPayloadTable(orm) (or payloadTableSql() in a migration).');
    } finally {
      await bare.close(true);
    }

    await orm.em.getConnection().execute('ALTER TABLE sync_machine_payloads RENAME TO elsewhere');
    try {
      expect(await refusal([Fine], { worker: { concurrency: 1 } })).to.match(
        /^The payload table sync_machine_payloads cannot be read \(.*\): create it with `await createPayloadTable\(orm\)` from 'sync-machine\/mikro-orm'/);
      // Without a worker it starts (capture needs no payload table) and says what is missing.
      const warnings: string[] = [];
      const logger = { info: () => {}, warn: (m: string) => warnings.push(m), error: () => {} };
      const capturing = await SyncMachines.start({ orm: orm, redis: REDIS_URL, prefix: prefix, machines: [Fine], logger });
      await capturing.close();
      expect(warnings).to.have.length(1);
      expect(warnings[0]).to.match(/^SyncMachines\.start \(no worker\): The payload table sync_machine_payloads cannot be read .*createPayloadTable.* This runtime only captures, so it started; workers refuse to start until the table is there\.$/);
    } finally {
      await orm.em.getConnection().execute('ALTER TABLE elsewhere RENAME TO sync_machine_payloads');
    }
  });
});
