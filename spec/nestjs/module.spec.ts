import { expect } from 'chai';
import { BeforeApplicationShutdown, Inject, Injectable, Module, OnApplicationShutdown, Scope } from '@nestjs/common';
import { NestFactory, REQUEST } from '@nestjs/core';
import type { DataSource } from 'typeorm';
import { SyncMachineModule } from '../../adapters/nestjs';
import { Build, ConfigurationError, ListenTo, Publish, SyncMachine, SyncMachines } from '../../lib';
import { TestDatabase } from '../support/database';
import { MemoryLogger } from '../support/logger';
import { Customer, Order } from '../support/shop';
import { deleteKeys, freshPrefix, REDIS_URL } from '../support/redis';

/** The error a Nest application context with this module fails to start with, or undefined when it starts. */
function startError(module: new () => object): Promise<Error | undefined> {
  return NestFactory.createApplicationContext(module, { logger: false, abortOnError: false }).then(() => undefined, (error: Error) => error);
}

/** SyncMachineModule's own rules, in one process on SQLite and Redis: discovery, the injected runtime, refusals. */
describe('SyncMachineModule (NestJS, SQLite, Redis)', function () {
  this.timeout(20_000);
  const prefix = freshPrefix('nest-module');
  let db: TestDatabase;
  let ds: DataSource;
  const options = () => ({ orm: ds, redis: REDIS_URL, prefix, logger: new MemoryLogger() });

  before(async () => {
    db = await TestDatabase.create('sqlite', [Customer, Order]);
    ds = await db.connect();
  });
  after(async () => {
    await db?.destroy();
    await deleteKeys(prefix);
  });

  @SyncMachine({ subject: Order })
  @ListenTo(Order)
  class OrderSync {
    @Build() build(order: Order) { return { id: String(order.id) }; }
    @Publish() publish() {}
  }

  it('finds a machine made by a factory provider in another module, and injects the runtime into services', async () => {
    const calls: string[] = [];
    @Injectable()
    class Reporter {
      constructor(readonly sync: SyncMachines) {
        // Before the module starts: the runtime is not there yet, and says when it will be.
        for (const call of [() => sync.machineNames, () => sync.notifyChanged(Order, 1)]) {
          try {
            void call();
          } catch (error) {
            calls.push(error instanceof ConfigurationError ? error.message : String(error));
          }
        }
        calls.push(String(sync.constructor === SyncMachines)); // what Nest and loggers look at still answers
      }
    }
    @Module({ providers: [{ provide: 'order-sync', useFactory: () => new OrderSync() }] })
    class MachinesModule {}
    @Module({ imports: [MachinesModule, SyncMachineModule.forRoot(options())], providers: [Reporter] })
    class AppModule {}

    const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
    try {
      expect(calls).to.have.length(3);
      for (const message of calls.slice(0, 2)) {
        expect(message).to.match(/^SyncMachines is not started yet: SyncMachineModule starts it in its onModuleInit/);
      }
      expect(calls[2]).to.equal('true');
      const { sync } = app.get(Reporter);
      expect(sync).to.be.instanceOf(SyncMachines);
      expect(sync.machineNames).to.deep.equal(['OrderSync']);
      expect(app.get(SyncMachines)).to.equal(sync); // one runtime for every injection
      await sync.drain({ timeoutMs: 5_000 });
    } finally {
      await app.close();
    }
  });

  it('captures the writes committed while Nest shuts down, until it has closed the HTTP server (onApplicationShutdown; Nest 10: beforeApplicationShutdown)', async () => {
    const published: string[] = [];
    @SyncMachine({ subject: Order, name: 'ShutdownSync' })
    @ListenTo(Order)
    class ShutdownSync {
      @Build() build(order: Order) { return { id: String(order.id), status: order.status }; }
      @Publish() publish(order: Order) { published.push(String(order.id)); }
    }
    let lastId = 0;
    /**
     * A request that Nest still serves after beforeApplicationShutdown: it closes the HTTP server between that hook
     * and onApplicationShutdown, which the app's own module gets before the global ones (SyncMachineModule's).
     */
    // Nest 10 runs the global modules' shutdown hooks first, SyncMachineModule's among them (Nest 11 runs them last):
    // there a write made in another module's onApplicationShutdown is not captured, as the README says.
    const nest10 = (require('@nestjs/core/package.json') as { version: string }).version.startsWith('10.');
    const write = async () => {
      const customer = await ds.getRepository(Customer).save({ firstName: 'Late', lastName: 'Request' });
      lastId = (await ds.getRepository(Order).save({ customerId: customer.id, status: 'purchased' })).id;
    };
    @Injectable()
    class LastRequest implements BeforeApplicationShutdown, OnApplicationShutdown {
      async beforeApplicationShutdown() { if (nest10) await write(); }
      async onApplicationShutdown() { if (!nest10) await write(); }
    }
    @Module({ imports: [SyncMachineModule.forRoot(options())], providers: [ShutdownSync, LastRequest] })
    class AppModule {}
    const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
    await app.close();
    expect(lastId).to.be.above(0);

    // Before, the runtime closed in beforeApplicationShutdown, and the write was neither captured nor logged.
    const worker = await SyncMachines.start({ ...options(), machines: [new ShutdownSync()], worker: {} });
    try {
      await worker.drain({ timeoutMs: 10_000 });
      expect(published).to.deep.equal([String(lastId)]);
    } finally {
      await worker.close();
    }
  });

  it('forRootAsync builds the options from injected providers', async () => {
    @Module({ providers: [{ provide: 'DATA_SOURCE', useValue: ds }], exports: ['DATA_SOURCE'] })
    class DatabaseModule {}
    @Module({
      imports: [SyncMachineModule.forRootAsync({
        imports: [DatabaseModule], inject: ['DATA_SOURCE'],
        useFactory: (dataSource: DataSource) => ({ ...options(), orm: dataSource }),
      })],
      providers: [OrderSync],
    })
    class AppModule {}
    const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
    try {
      expect(app.get(SyncMachines).machineNames).to.deep.equal(['OrderSync']);
    } finally {
      await app.close();
    }
  });

  it('refuses a request-scoped machine, and an app without machines, naming the fix', async () => {
    @Injectable({ scope: Scope.REQUEST })
    @SyncMachine({ subject: Order })
    @ListenTo(Order)
    class ScopedSync {
      @Build() build(order: Order) { return { id: String(order.id) }; }
      @Publish() publish() {}
    }
    @Module({ imports: [SyncMachineModule.forRoot(options())], providers: [ScopedSync] })
    class ScopedModule {}
    const scoped = await startError(ScopedModule);
    expect(scoped).to.be.instanceOf(ConfigurationError);
    expect(scoped!.message).to.equal('ScopedSync is a request-scoped provider: sync machines run in workers, outside any ' +
      'request. Make it a singleton: drop `scope` from its @Injectable().');

    // One that injects a request-scoped provider through another: named, with the path (a trial's message named the
    // machine only, whose @Injectable() had no `scope` to drop).
    @Injectable({ scope: Scope.REQUEST })
    class RequestUser {}
    @Injectable()
    class AuditClient { constructor(readonly user: RequestUser) {} }
    @Injectable()
    @SyncMachine({ subject: Order, name: 'AuditedSync' })
    @ListenTo(Order)
    class AuditedSync {
      constructor(readonly audit: AuditClient) {}
      @Build() build(order: Order) { return { id: String(order.id) }; }
      @Publish() publish() {}
    }
    @Module({ imports: [SyncMachineModule.forRoot(options())], providers: [AuditedSync, AuditClient, RequestUser] })
    class InjectsModule {}
    const injects = await startError(InjectsModule);
    expect(injects?.message).to.equal('AuditedSync injects RequestUser, a request-scoped provider (through AuditClient): ' +
      'sync machines run in workers, outside any request. Make RequestUser a singleton (drop `scope` from its ' +
      '@Injectable()), or inject into AuditedSync what it needs without it.');

    // Nest's REQUEST: named as such (a trial read "noop", its factory's name), and no singleton is advised where
    // whatever injects it stays request-scoped (a trial made its logger one, and the error moved to "noop").
    @Injectable({ scope: Scope.REQUEST })
    class RequestLogger { constructor(@Inject(REQUEST) readonly request: unknown) {} }
    @Injectable()
    @SyncMachine({ subject: Order, name: 'LoggedSync' })
    @ListenTo(Order)
    class LoggedSync {
      constructor(readonly log: RequestLogger) {}
      @Build() build(order: Order) { return { id: String(order.id) }; }
      @Publish() publish() {}
    }
    @Module({ imports: [SyncMachineModule.forRoot(options())], providers: [LoggedSync, RequestLogger] })
    class LoggedModule {}
    const logged = await startError(LoggedModule);
    expect(logged?.message).to.equal('LoggedSync injects RequestLogger, a request-scoped provider: sync machines run in ' +
      'workers, outside any request. RequestLogger injects REQUEST, so it stays request-scoped: inject into LoggedSync ' +
      'what it needs without it.');
    @Injectable()
    class PlainLogger { constructor(@Inject(REQUEST) readonly request: unknown) {} }
    @Injectable()
    @SyncMachine({ subject: Order, name: 'PlainSync' })
    @ListenTo(Order)
    class PlainSync {
      constructor(readonly log: PlainLogger) {}
      @Build() build(order: Order) { return { id: String(order.id) }; }
      @Publish() publish() {}
    }
    @Module({ imports: [SyncMachineModule.forRoot(options())], providers: [PlainSync, PlainLogger] })
    class PlainModule {}
    const plain = await startError(PlainModule);
    expect(plain?.message).to.equal('PlainSync injects REQUEST (the request object, from @nestjs/core) (through ' +
      'PlainLogger): sync machines run in workers, outside any request, and whatever injects REQUEST is ' +
      'request-scoped. Inject into PlainSync what it needs without REQUEST (a plain Logger, say, rather than a ' +
      'request-scoped one).');

    @Module({ imports: [SyncMachineModule.forRoot(options())] })
    class EmptyModule {}
    const empty = await startError(EmptyModule);
    expect(empty?.message).to.match(/^SyncMachineModule found no provider decorated with @SyncMachine: add your machine class/);

    // One class in two modules' providers: two instances, each a machine of the same name.
    @Module({ providers: [OrderSync] })
    class BillingModule {}
    @Module({ providers: [OrderSync] })
    class ShippingModule {}
    @Module({ imports: [BillingModule, ShippingModule, SyncMachineModule.forRoot(options())] })
    class TwiceModule {}
    const twice = await startError(TwiceModule);
    expect(twice?.message).to.equal('OrderSync is in the providers of two modules (BillingModule and ShippingModule), so ' +
      'Nest makes an instance in each, and each would run as a machine: keep it in the `providers` of one module, and ' +
      "add it to that module's `exports` for the others that inject it.");

    // Imported twice: two runtimes, each capturing every commit. With options that differ (here the prefix): Nest 10
    // makes one module of two imports whose options serialise alike, Nest 11 one per import.
    @Module({ imports: [SyncMachineModule.forRoot({ ...options(), prefix: `${prefix}-feature` })], providers: [OrderSync] })
    class FeatureModule {}
    @Module({ imports: [FeatureModule, SyncMachineModule.forRoot(options())] })
    class ImportsTwiceModule {}
    const imported = await startError(ImportsTwiceModule);
    expect(imported?.message).to.equal('SyncMachineModule is imported 2 times in this application, and each import would ' +
      'start a runtime of its own: import it once, in the root module (it is global, so SyncMachines is injectable everywhere).');

    // Twice in one module: a class provider and a factory (a trial's message named "two modules (M and M)").
    @Module({ imports: [SyncMachineModule.forRoot(options())], providers: [OrderSync, { provide: 'again', useFactory: () => new OrderSync() }] })
    class DoubleModule {}
    const double = await startError(DoubleModule);
    expect(double?.message).to.equal('OrderSync is provided twice in DoubleModule (two providers make an instance of it: a ' +
      'class provider and a factory, say), and each would run as a machine: keep one provider of it.');
  });
});
