import { expect } from 'chai';
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import Redis from 'ioredis';
import { DataSource } from 'typeorm';
import { KeySpace } from '../../lib/redis/keys';
import { buildPackage, SHIPPED } from '../cli/support/installed-app';
import { until } from '../cli/support/cli-world';
import { POSTGRES_URL } from '../support/database';
import { PartnerApi } from '../support/partner-api';
import { deleteKeys, freshPrefix, REDIS_URL } from '../support/redis';

/*
 * demo/nestjs as an app would run it: compiled with the package into a folder of its own, where
 * `sync-machine` and `sync-machine/nestjs` resolve to that build (one copy of each class, as after npm install).
 * The seed's example is published through Nest's module system; then the worker as its own process stops on
 * SIGTERM through Nest's shutdown hooks, letting the publish it is running finish.
 */

// The compiled demo, loaded at run time: its types are the demo's own.
/* eslint-disable @typescript-eslint/no-require-imports */
interface DemoModules {
  AppModule: new () => object;
  WorkerModule: new () => object;
  ShopService: new (...args: never[]) => {
    createCustomer(first: string, last: string): Promise<{ id: number }>;
    placeOrder(customerId: number): Promise<{ id: number }>;
    updateOrder(id: number, fields: { status?: string; warehouseCode?: string }): Promise<void>;
    renameCustomer(id: number, first: string, last: string): Promise<void>;
  };
  SyncMachines: new (...args: never[]) => { drain(o: { timeoutMs: number }): Promise<unknown>; machineNames: string[] };
  createTables(url: string): Promise<void>;
}

describe('sync-machine/nestjs: the NestJS demo app (PostgreSQL, Redis)', function () {
  this.timeout(180_000);
  const api = new PartnerApi();
  const prefix = freshPrefix('nestjs');
  const schema = `sm_nest_${randomBytes(5).toString('hex')}`;
  let dir: string;
  let demo: DemoModules;
  let admin: DataSource;
  let redis: Redis;
  const contexts: INestApplicationContext[] = [];
  let child: ChildProcess | undefined;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sync-machine-nest-'));
    admin = await new DataSource({ type: 'postgres', url: POSTGRES_URL }).initialize();
    await admin.query(`CREATE SCHEMA "${schema}"`);
    redis = new Redis(REDIS_URL);
    await Promise.all([buildPackage(dir, [...SHIPPED, 'demo']), api.start()]);
    const databaseUrl = new URL(POSTGRES_URL);
    databaseUrl.searchParams.set('schema', schema);
    // What the demo's modules read when Nest builds them.
    Object.assign(process.env, { DATABASE_URL: databaseUrl.toString(), REDIS_URL, PARTNER_API_URL: api.url, SYNC_PREFIX: prefix });
    const dist = join(dir, 'dist');
    const data = require(join(dist, 'demo', 'typeorm', 'data-source.js'));
    demo = {
      ...require(join(dist, 'demo', 'nestjs', 'app.module.js')),
      ...require(join(dist, 'demo', 'nestjs', 'shop.service.js')),
      SyncMachines: require(join(dist, 'lib', 'index.js')).SyncMachines,
      async createTables(url: string) {
        const ds = await data.connect(url);
        await data.createTables(ds);
        await ds.destroy();
      },
    };
    await demo.createTables(process.env.DATABASE_URL!);
  });

  after(async () => {
    for (const name of ['DATABASE_URL', 'PARTNER_API_URL', 'SYNC_PREFIX']) delete process.env[name];
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const context of contexts.reverse()) await context.close().catch(() => undefined);
    await api.stop();
    redis?.disconnect();
    await admin?.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin?.destroy();
    await deleteKeys(prefix);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function boot(module: new () => object): Promise<INestApplicationContext> {
    const context = await NestFactory.createApplicationContext(module, { logger: ['error'] });
    contexts.push(context);
    return context;
  }

  it('finds the @SyncMachine provider, injects SyncMachines, and publishes the seed\'s example', async () => {
    const worker = await boot(demo.WorkerModule);
    const app = await boot(demo.AppModule);
    const shop = app.get(demo.ShopService);
    const sync = app.get(demo.SyncMachines);
    expect(sync).to.be.instanceOf(demo.SyncMachines);
    expect(sync.machineNames).to.deep.equal(['OrderToApiSync']); // discovered: nothing lists it

    const step = async (write: () => Promise<unknown>) => {
      const before = api.publishes().length;
      await write();
      await sync.drain({ timeoutMs: 20_000 });
      return api.publishes().slice(before).map((r) => [r.id, r.body]);
    };
    const jane = await shop.createCustomer('Jane', 'Yang');
    let first = 0;
    expect(await step(async () => { first = (await shop.placeOrder(jane.id)).id; })).to.deep.equal([
      [String(first), { id: String(first), customer_full_name: 'Jane Yang', order_status: 'purchased' }],
    ]);
    expect(await step(() => shop.updateOrder(first, { warehouseCode: 'W7' }))).to.deep.equal([]);
    expect(await step(() => shop.updateOrder(first, { status: 'shipped' }))).to.deep.equal([
      [String(first), { id: String(first), customer_full_name: 'Jane Yang', order_status: 'shipped' }],
    ]);
    let second = 0;
    await step(async () => { second = (await shop.placeOrder(jane.id)).id; });
    const renamed = await step(() => shop.renameCustomer(jane.id, 'Jane', 'Smith'));
    expect(renamed.sort()).to.deep.equal([
      [String(first), { id: String(first), customer_full_name: 'Jane Smith', order_status: 'shipped' }],
      [String(second), { id: String(second), customer_full_name: 'Jane Smith', order_status: 'purchased' }],
    ].sort());

    await worker.close(); // the in-process worker goes; the next publishes need the worker process below
    contexts.splice(contexts.indexOf(worker), 1);
  });

  it('runs the worker as its own process, and on SIGTERM lets the running publish finish and exits through Nest', async () => {
    child = spawn(process.execPath, [join(dir, 'dist', 'demo', 'nestjs', 'worker.js')], {
      cwd: dir, env: process.env, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (chunk) => { output += chunk; });
    child.stderr!.on('data', (chunk) => { output += chunk; });
    const exited = new Promise<[number | null, string | null]>((resolve) => child!.on('exit', (code, signal) => resolve([code, signal])));
    await until(() => output.includes('nest worker: ready') || child!.exitCode !== null, () => `the worker:\n${output}`, 60_000);

    const app = contexts[contexts.length - 1];
    const shop = app.get(demo.ShopService);
    const jim = await shop.createCustomer('Jim', 'Ray');
    await app.get(demo.SyncMachines).drain({ timeoutMs: 20_000 }); // the worker process maps the new customer
    api.delayMs = 1500;
    api.maxInFlightPerId = 0;
    const before = api.publishes().length;
    const order = await shop.placeOrder(jim.id); // one job: the SIGTERM finds it running, nothing else queued
    await until(() => api.maxInFlightPerId > 0, 'the publish to reach the API');
    child.kill('SIGTERM');

    const [code, signal] = await exited;
    // Nest's shutdown hook closes the context, then re-raises the signal: the process ends by SIGTERM, not an error.
    expect([code, signal], output).to.deep.equal([null, 'SIGTERM']);
    expect(api.publishes().slice(before).map((r) => r.id)).to.deep.equal([String(order.id)]); // finished before exiting
    expect(output).to.not.match(/error/i);
    // Said as it started (a trial could not tell from its log whether the worker had found the machine).
    expect(output).to.match(/The worker runs OrderToApiSync \(prefix [^,]+, concurrency \d+\)\./);
    // Said as it stopped, as the CLI worker says it, so a deploy can tell a graceful stop from a hang.
    expect(output).to.match(/SIGTERM: the worker takes no new jobs and waits up to \d+ ms \(worker\.closeTimeoutMs\) for the runs in flight\./);
    expect(output).to.match(/The worker stopped after \d+ ms; capture stops with the application\./);
    expect(output).to.match(/SIGTERM: capture stopped after the last requests, and its connections are closed\./);
    // Closed cleanly: the subject's lock was released and no run ticket was left running.
    const keys = new KeySpace(prefix);
    expect(await redis.hlen(keys.locks('OrderToApiSync'))).to.equal(0);
    expect(await redis.llen(keys.queueKey('OrderToApiSync', 'ensure-publication', 'active'))).to.equal(0);
  });
});
