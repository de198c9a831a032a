import { expect } from 'chai';
import { Column, DataSource, Entity, ManyToOne, PrimaryColumn } from 'typeorm';
import { SyncMachinePayload } from '../../adapters/typeorm';
import {
  AfterPublish, Build, ConfigurationError, ListenTo, Publish, SubjectIdsFrom, SyncMachine, SyncMachines,
} from '../../lib';
import { Harness } from '../support/harness';
import { MemoryLogger } from '../support/logger';
import { REDIS_URL } from '../support/redis';
import { Customer, Order } from '../support/shop';

/** An entity the DataSource does not know. */
class Invoice { id!: number; }

describe('SyncMachines.start refuses misuse with the class and the fix', () => {
  let h: Harness;
  before(async () => { h = await new Harness('sqlite', 'validation').setUp(); });
  after(async () => h.tearDown());

  async function refusal(machines: unknown[], extra: Record<string, unknown> = {}): Promise<string> {
    try {
      const sync = await SyncMachines.start({ orm: h.ds, redis: REDIS_URL, prefix: h.prefix, machines, ...extra });
      await sync.close();
    } catch (error) {
      expect(error).to.be.instanceOf(ConfigurationError);
      return (error as Error).message;
    }
    throw new Error('start() accepted a misconfigured machine');
  }

  it('a machine without @Build or @Publish', async () => {
    @SyncMachine({ subject: Order }) @ListenTo(Order)
    class NoBuild { @Publish() publish() {} }
    @SyncMachine({ subject: Order }) @ListenTo(Order)
    class NoPublish { @Build() build() { return {}; } }
    expect(await refusal([NoBuild])).to.equal(
      'NoBuild has no @Build method: add one method decorated with @Build() that returns the payload for a subject.');
    expect(await refusal([NoPublish])).to.equal(
      'NoPublish has no @Publish method: add one method decorated with @Publish() that sends (subject, payload) to the API.');
  });

  it('two @Build methods', async () => {
    @SyncMachine({ subject: Order })
    class TwoBuilds { @Build() a() { return {}; } @Build() b() { return {}; } @Publish() p() {} }
    // Before, the fix read "add one method decorated with @Build()", of a class that had two (a trial).
    expect(await refusal([TwoBuilds])).to.equal('TwoBuilds has two @Build methods (a and b): keep one, and remove @Build() ' +
      'from the other (a machine has one of each hook).');
  });

  it('@ListenTo an entity the ORM does not know', async () => {
    @SyncMachine({ subject: Order }) @ListenTo(Invoice)
    class Unknown { @Build() b() { return {}; } @Publish() p() {} @SubjectIdsFrom(Invoice) m() { return []; } }
    expect(await refusal([Unknown])).to.equal(
      "Unknown: @ListenTo entity Invoice is not an entity of this TypeORM setup: add it to the ORM's entities (or fix the import).");
  });

  it('a subject the ORM does not know', async () => {
    @SyncMachine({ subject: Invoice })
    class UnknownSubject { @Build() b() { return {}; } @Publish() p() {} }
    expect(await refusal([UnknownSubject])).to.match(/^UnknownSubject: its subject Invoice is not an entity of this TypeORM setup/);
  });

  it('a listened non-subject entity without @SubjectIdsFrom', async () => {
    @SyncMachine({ subject: Order }) @ListenTo(Order) @ListenTo(Customer)
    class NoMapper { @Build() b() { return {}; } @Publish() p() {} }
    expect(await refusal([NoMapper])).to.equal(
      'NoMapper listens to Customer but has no @SubjectIdsFrom(Customer) method: add one that, given a changed Customer, returns the Order ids it affects.');
  });

  it('@SubjectIdsFrom an entity it does not listen to', async () => {
    @SyncMachine({ subject: Order })
    class Unheard { @Build() b() { return {}; } @Publish() p() {} @SubjectIdsFrom(Customer) m() { return []; } }
    expect(await refusal([Unheard])).to.match(/does not listen to Customer: add @ListenTo\(Customer\) to the class\.$/);
  });

  it('an unknown field in `fields`', async () => {
    // The compiler refuses it already; start refuses it too, for code it could not check (entities typed as Function).
    // @ts-expect-error 'nickname' is not a property of Customer
    @SyncMachine({ subject: Order }) @ListenTo(Customer, { fields: ['firstName', 'nickname'] })
    class BadField { @Build() b() { return {}; } @Publish() p() {} @SubjectIdsFrom(Customer) m() { return []; } }
    const message = await refusal([BadField]);
    expect(message).to.match(/^BadField: @ListenTo\(Customer\) names the field "nickname", which Customer does not have: use one of /);
    expect(message).to.include('firstName, lastName, email');
    expect(message).to.not.include('orders');
  });

  it('a one-to-many relation in `fields`: its rows are the other entity\'s, so it would never fire', async () => {
    @SyncMachine({ subject: Order }) @ListenTo(Customer, { fields: ['orders'] })
    class Collected { @Build() b() { return {}; } @Publish() p() {} @SubjectIdsFrom(Customer) m() { return []; } }
    expect(await refusal([Collected])).to.equal('Collected: @ListenTo(Customer) names the field "orders", which is kept ' +
      "in Order's rows (Order.customer): moving rows in or out of it changes no Customer row, so it would never fire. " +
      "Listen to Order instead: @ListenTo(Order, { fields: ['customer'] }), with a @SubjectIdsFrom(Order) method that " +
      'returns the ids it affects (none when Order is the subject).');
  });

  it('a class that is not a sync machine, duplicate names, and a class that needs constructor arguments', async () => {
    class Plain {}
    @SyncMachine({ subject: Order, name: 'Same' }) class A { @Build() b() { return {}; } @Publish() p() {} }
    @SyncMachine({ subject: Order, name: 'Same' }) class B { @Build() b() { return {}; } @Publish() p() {} }
    @SyncMachine({ subject: Order }) class NeedsApi { constructor(readonly api: string) {} @Build() b() { return {}; } @Publish() p() {} }
    expect(await refusal([Plain])).to.equal('Plain is not a sync machine: decorate it with @SyncMachine({ subject: YourEntity }).');
    expect(await refusal([A, B])).to.equal('B and A are both named "Same": give one a unique name with @SyncMachine({ name }).');
    // One class twice: a unique name is not the fix (a trial's message said "A and A are both named").
    expect(await refusal([new A(), new A()])).to.equal('A is in SyncMachines.start({ machines }) twice (two instances of one ' +
      'class): pass one instance of each machine class. For machines of one code (one per tenant, say), make a class ' +
      'per machine with its own @SyncMachine({ name }) (a function that returns a decorated class), or, with a ' +
      'database per tenant, start a runtime per database with its own `prefix` (README, "Several databases").');
    expect(await refusal([NeedsApi])).to.match(/^NeedsApi takes constructor arguments: pass an instance \(machines: \[new NeedsApi\(\.\.\.\)\]\)/);
  });

  it('a join entity keyed on its two columns: the fix is a key of its own, not dropping its @ListenTo', async () => {
    @Entity('order_stock')
    class OrderStock {
      @PrimaryColumn() orderId!: number;
      @PrimaryColumn() warehouse!: string;
      @ManyToOne(() => Order) order!: Order;
      @Column() stock!: number;
    }
    @SyncMachine({ subject: Order }) @ListenTo(OrderStock)
    class Stocked { @Build() b() { return {}; } @Publish() p() {} @SubjectIdsFrom(OrderStock) m(s: OrderStock) { return s.orderId; } }
    const joined = new DataSource({
      type: 'better-sqlite3', database: ':memory:', entities: [Customer, Order, OrderStock, SyncMachinePayload], synchronize: true,
    });
    await joined.initialize();
    try {
      // Before: "…listen to an entity that has one and map from there": a trial dropped its @ListenTo, and stock
      // changes then reached no subject.
      expect(await refusal([Stocked], { orm: joined })).to.equal('Stocked: @ListenTo entity OrderStock has a composite ' +
        "primary key (orderId, warehouse): sync-machine tracks rows by a single-column primary key, so it cannot capture " +
        "OrderStock's changes, and leaving it unlistened leaves its changes unpublished. Give OrderStock a generated key " +
        "of its own and keep (orderId, warehouse) unique: `@PrimaryGeneratedColumn() id!: number` and `@Unique(['orderId', " +
        "'warehouse'])` on the class, with orderId and warehouse made ordinary columns or relations, and a migration that " +
        'adds the column. Then listen to it and map to the subjects from its relations.');
    } finally {
      await joined.destroy();
    }
  });

  it('an ORM that does not know SyncMachinePayload, and one whose table is missing', async () => {
    @SyncMachine({ subject: Order }) @ListenTo(Order)
    class Fine { @Build() b() { return {}; } @Publish() p() {} @AfterPublish() a() {} }
    const bare = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: [Customer, Order], synchronize: true });
    await bare.initialize();
    expect(await refusal([Fine], { orm: bare })).to.equal(
      "The DataSource does not know the SyncMachinePayload entity: import { SyncMachinePayload } from 'sync-machine/typeorm' " +
      'and add it to `entities` (and, unless `sync-machine generate` wrote a migration for it already, ' +
      'CreateSyncMachinePayloads1764288000000 to `migrations`).');
    await bare.destroy();

    await h.ds.query('ALTER TABLE sync_machine_payloads RENAME TO elsewhere');
    try {
      expect(await refusal([Fine], { worker: { concurrency: 1 } })).to.match(
        /^The payload table sync_machine_payloads cannot be read \(.*\): add CreateSyncMachinePayloads1764288000000 from 'sync-machine\/typeorm' to your DataSource's migrations and run it \(or use synchronize in development\); a table made before its `version` column existed also needs AddSyncMachinePayloadVersion1796083200000\.$/);
      // Without a worker it starts (capture needs no payload table) and says what is missing.
      const warnings: string[] = [];
      const logger = { info: () => {}, warn: (m: string) => warnings.push(m), error: () => {} };
      const capturing = await SyncMachines.start({ orm: h.ds, redis: REDIS_URL, prefix: h.prefix, machines: [Fine], logger });
      await capturing.close();
      expect(warnings).to.have.length(1);
      expect(warnings[0]).to.match(/^SyncMachines\.start \(no worker\): The payload table sync_machine_payloads cannot be read .*CreateSyncMachinePayloads1764288000000.* This runtime only captures, so it started; workers refuse to start until the table is there\.$/);
    } finally {
      await h.ds.query('ALTER TABLE elsewhere RENAME TO sync_machine_payloads');
    }
  });

  it('bad options: no orm, an uninitialized DataSource, a bad redis URL, an unreachable Redis, a bad worker', async () => {
    @SyncMachine({ subject: Order }) @ListenTo(Order)
    class Fine { @Build() b() { return {}; } @Publish() p() {} }
    expect(await refusal([Fine], { orm: {} })).to.match(/^orm: expected a TypeORM DataSource or a MikroORM instance, got a plain object: /);
    const idle = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: [Order] });
    expect(await refusal([Fine], { orm: idle.manager })).to.match(new RegExp('^orm: expected a TypeORM DataSource or a MikroORM ' +
      'instance, got a TypeORM EntityManager \\(pass its DataSource, `manager.connection`\\): '));
    expect(await refusal([Fine], { orm: idle })).to.match(/not initialized: `await dataSource.initialize\(\)`/);
    expect(await refusal([Fine], { redis: 'http://localhost' })).to.match(/^redis: "http:\/\/localhost" is not a redis:\/\/ or rediss:\/\/ URL/);
    const unreachable = await refusal([Fine], { redis: 'redis://127.0.0.1:1' });
    expect(unreachable, unreachable).to.match(/^Cannot reach Redis at redis:\/\/127\.0\.0\.1:1: [\s\S]*Start Redis or fix the `redis` option\.$/);
    // Before, start() resolved on database 0 after a failed SELECT, and every key went there (a trial).
    expect(await refusal([Fine], { redis: `${REDIS_URL.replace(/\/\d*$/, '')}/99` })).to.match(new RegExp('^Redis at redis://[^ ]+/99 has no ' +
      'database 99 \\(ERR DB index is out of range\\): use one it has, 0 to 15 unless its `databases` setting says more'));
    expect(await refusal([Fine], { worker: { concurrency: 0 } })).to.equal('worker.concurrency must be a whole number of at least 1, got 0.');
    expect(await refusal([Fine], { worker: { concurrency: '5' as never } })).to.equal('worker.concurrency must be a whole number of at least 1, got "5".');
    expect(await refusal([Fine], { worker: { lockTtlMs: 3000, stallIntervalMs: 3000 } })).to.equal(
      'worker.lockTtlMs (3000) must be greater than worker.stallIntervalMs (3000): a subject lock must outlive the stall ' +
      'check that hands a blocked run to another worker. Raise lockTtlMs (default 30000) or lower stallIntervalMs (default 5000).');
    expect(await refusal([])).to.match(/^SyncMachines.start needs `machines`/);
    // A batch binds every id in one query: past 1,000 a database refuses the statement, so start() does.
    @SyncMachine({ subject: Order, batchSize: 5000 }) @ListenTo(Order)
    class Huge { @Build() b() { return {}; } @Publish() p() {} }
    expect(await refusal([Huge])).to.equal('Huge: @SyncMachine({ batchSize }) must be a whole number from 1 to 1000, got 5000.');
    // From a JavaScript config a number may come as a string: the message shows it is one.
    @SyncMachine({ subject: Order, batchSize: '100' as never }) @ListenTo(Order)
    class Quoted { @Build() b() { return {}; } @Publish() p() {} }
    expect(await refusal([Quoted])).to.equal('Quoted: @SyncMachine({ batchSize }) must be a whole number from 1 to 1000, got "100".');
    // A trial's migration took 110 s, and "about how long it takes" met an unstated limit: the way past it is said.
    @SyncMachine({ subject: Order, debounceMs: 150_000 }) @ListenTo(Order)
    class Patient { @Build() b() { return {}; } @Publish() p() {} }
    expect(await refusal([Patient])).to.equal('Patient: @SyncMachine({ debounceMs }) must be a whole number from 0 to ' +
      '100000, got 150000: a migration that takes longer coalesces fully when run with the workers stopped (start them afterwards).');
    @SyncMachine({ subject: Order, batchSize: 1000, debounceMs: 100_000 }) @ListenTo(Order)
    class Largest { @Build() b() { return {}; } @Publish() p() {} }
    expect(await refusal([Largest], { redis: 'http://localhost' })).to.match(/^redis: /); // the machine itself passed
  });

  it('a machine with no @ListenTo starts, and says once that no commit runs it, with the fix', async () => {
    @SyncMachine({ subject: Order })
    class ResyncOnly { @Build() build() { return {}; } @Publish() publish() {} }
    @SyncMachine({ subject: Order, name: 'Listening' }) @ListenTo(Order)
    class Listening { @Build() build() { return {}; } @Publish() publish() {} }
    const logger = new MemoryLogger();
    const sync = await SyncMachines.start({ orm: h.ds, redis: REDIS_URL, prefix: h.prefix, machines: [ResyncOnly, Listening], logger });
    await sync.close();
    expect(logger.warnings(), logger.warnings().join('\n')).to.deep.equal(['ResyncOnly listens to no entity, so no commit ' +
      'runs it: only resync and notifyChanged do. To publish Order when its rows change, add @ListenTo(Order) to the class ' +
      '(and @ListenTo with @SubjectIdsFrom for the related entities its payload reads).']);
  });

  it('a machine named after a class name a minifier leaves says so, with the fix; a named one does not', async () => {
    @SyncMachine({ subject: Order }) @ListenTo(Order)
    class In { @Build() build() { return {}; } @Publish() publish() {} }
    @SyncMachine({ subject: Order, name: 'Kr' }) @ListenTo(Order)
    class Kr { @Build() build() { return {}; } @Publish() publish() {} }
    const logger = new MemoryLogger();
    const sync = await SyncMachines.start({ orm: h.ds, redis: REDIS_URL, prefix: h.prefix, machines: [In, Kr], logger });
    await sync.close();
    // A trial's esbuild --minify stored its machine as "In", with nothing said.
    expect(logger.warnings(), logger.warnings().join('\n')).to.deep.equal(['A machine is named after its class ("In"), by a ' +
      'name a minifier leaves: Redis keys and stored payloads go by it, and the next build may name it otherwise (every ' +
      'subject published again, from version 1). Bundle with --keep-names, or give each machine a name of its own ' +
      '(@SyncMachine({ name })).']);
  });

  it('a subject given by name or missing: says the class itself goes there', async () => {
    @SyncMachine({ subject: 'Order' as never }) @ListenTo(Order)
    class ByName { @Build() b() { return {}; } @Publish() p() {} }
    expect(await refusal([ByName])).to.equal('ByName: @SyncMachine needs `subject`, the entity class the API knows, e.g. ' +
      '@SyncMachine({ subject: Order }) (got "Order"; pass the class itself, imported, not its name).');
    @SyncMachine({} as never) @ListenTo(Order)
    class Without { @Build() b() { return {}; } @Publish() p() {} }
    expect(await refusal([Without])).to.equal('Without: @SyncMachine needs `subject`, the entity class the API knows, e.g. ' +
      '@SyncMachine({ subject: Order }).');
  });

  it('a logger that cannot log, and a prefix that is not a non-empty string, saying what they must be', async () => {
    @SyncMachine({ subject: Order }) @ListenTo(Order)
    class Fine { @Build() b() { return {}; } @Publish() p() {} }
    // Found only when a hook failed, its TypeError took the hook's error's place in the failure record.
    expect(await refusal([Fine], { logger: { info: () => {} } })).to.equal('logger must have info, warn and error methods ' +
      '(console, pino and winston loggers do); it lacks warn, error. Omit it to log to the console.');
    expect(await refusal([Fine], { logger: 'x' })).to.equal('logger must have info, warn and error methods ' +
      '(console, pino and winston loggers do); got "x". Omit it to log to the console.');
    expect(await refusal([Fine], { prefix: 5 })).to.equal("prefix must be a non-empty string, such as 'my-app' (every " +
      "Redis key starts with it), got 5; omit it for 'sync-machine'.");
    expect(await refusal([Fine], { prefix: '' })).to.match(/^prefix must be a non-empty string, .*, got an empty string;/);
    expect(await refusal([Fine], { prefix: 'my app' })).to.equal('prefix "my app" may only use letters, digits and "_", ".", ":", "-".');
  });

  it('a misspelled option, at any level, instead of starting with its default', async () => {
    @SyncMachine({ subject: Order }) @ListenTo(Order)
    class Fine { @Build() b() { return {}; } @Publish() p() {} }
    expect(await refusal([Fine], { prefx: 'x' })).to.equal('SyncMachines.start: unknown option "prefx"; did you mean "prefix"? ' +
      'It takes `orm`, `redis`, `machines`, `worker`, `prefix`, `logger`, `capture`, `outboxPollMs`, `captureTimeoutMs`.');
    expect(await refusal([Fine], { worker: { concurency: 5 } })).to.equal('SyncMachines.start({ worker }): unknown option ' +
      '"concurency"; did you mean "concurrency"? It takes `concurrency`, `retry`, `lockTtlMs`, `closeTimeoutMs`, `stallIntervalMs`.');
    expect(await refusal([Fine], { worker: { retry: { attempt: 3 } } })).to.equal('SyncMachines.start({ worker: { retry } }): ' +
      'unknown option "attempt"; did you mean "attempts"? It takes `attempts`, `initialDelayMs`.');
    expect(await refusal([Fine], { worker: { lockTTL: 60_000 } })).to.match(/^SyncMachines.start\(\{ worker \}\): unknown option "lockTTL"; did you mean "lockTtlMs"\? /);
    expect(await refusal([Fine], { worker: { threads: 4 } })).to.match(/^SyncMachines.start\(\{ worker \}\): unknown option "threads"\. It takes `concurrency`, /);
    expect(await refusal([Fine], { worker: { retry: { initialDelayMs: '50' } } })).to.equal(
      'worker.retry.initialDelayMs must be a number of milliseconds, 0 or more, got "50".');
    expect(await refusal([Fine], { worker: { closeTimeoutMs: -1 } })).to.equal(
      'worker.closeTimeoutMs must be a whole number of milliseconds, 0 or more, got -1.');
    expect(await refusal([Fine], { captureTimeoutMs: 0 })).to.equal(
      'captureTimeoutMs must be a whole number of milliseconds, 1 or more, got 0.');
    expect(await refusal([Fine], { captureTimeoutMs: '500' as never })).to.equal(
      'captureTimeoutMs must be a whole number of milliseconds, 1 or more, got "500".');

    @SyncMachine({ subject: Order, batchsize: 50 } as never) @ListenTo(Order)
    class Lower { @Build() b() { return {}; } @Publish() p() {} }
    expect(await refusal([Lower])).to.equal('Lower: @SyncMachine: unknown option "batchsize"; did you mean "batchSize"? ' +
      'It takes `subject`, `name`, `relations`, `batchSize`, `debounceMs`, `store`, `rateLimit`.');
    @SyncMachine({ subject: Order, rateLimit: { max: 5, per: 1000 } } as never) @ListenTo(Order)
    class Rate { @Build() b() { return {}; } @Publish() p() {} }
    expect(await refusal([Rate])).to.equal('Rate: @SyncMachine({ rateLimit }): unknown option "per"; did you mean "perMs"? ' +
      'It takes `max`, `perMs`.');
    // A window of years kept every publish in it; Infinity and NaN read as null in the message (a trial).
    for (const [limit, shown] of [[{ max: 5, perMs: 1e12 }, '{ max: 5, perMs: 1000000000000 }'], [{ max: Infinity, perMs: 1000 }, '{ max: Infinity, perMs: 1000 }'],
      [{ max: 5, perMs: NaN }, '{ max: 5, perMs: NaN }']] as const) {
      @SyncMachine({ subject: Order, rateLimit: limit }) @ListenTo(Order)
      class Odd { @Build() b() { return {}; } @Publish() p() {} }
      expect(await refusal([Odd])).to.equal('Odd: @SyncMachine({ rateLimit }) needs whole numbers, max from 1 to 100,000 and ' +
        `perMs from 1 to 86,400,000 (a day), e.g. { max: 100, perMs: 1000 } for 100 publishes a second across all workers; got ${shown}.`);
    }
    @SyncMachine({ subject: Order }) @ListenTo(Order, { field: ['status'] } as never)
    class Listen { @Build() b() { return {}; } @Publish() p() {} }
    expect(await refusal([Listen])).to.equal('Listen: @ListenTo(Order, options): unknown option "field"; did you mean "fields"? ' +
      'It takes `fields`.');
    @SyncMachine({ subject: Order }) @ListenTo(Order, { fields: 'status' } as never)
    class OneField { @Build() b() { return {}; } @Publish() p() {} }
    expect(await refusal([OneField])).to.equal('OneField: @ListenTo(Order, { fields }) needs a non-empty array of property names, ' +
      'e.g. { fields: [\'status\'] }, got "status"; omit `fields` to listen to every change.');
    // A key set to undefined changes nothing, as from a spread of optional settings.
    expect(await refusal([Fine], { redis: 'http://localhost', extra: undefined, worker: { retry: undefined } })).to.match(/^redis: /);
  });
});
