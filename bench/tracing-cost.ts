import 'reflect-metadata';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import Redis from 'ioredis';
import { SyncMachines } from 'sync-machine';
import { ApiClient } from '../demo/api-client';
import { freshDatabase } from '../demo/database';
import { typeOrm } from '../demo/typeorm';
import { connect, createTables } from '../demo/typeorm/data-source';
import { OrderToApiSync } from '../demo/typeorm/order-to-api-sync';
import { Customer, Order } from '../demo/typeorm/shop';
import { deleteKeys } from '../demo/redis';

/*
 * What tracing costs: the same pipeline run (N orders saved, captured, published to a loopback API)
 * with no SDK registered, and with the SDK and an in-memory exporter, alternating, in one process.
 */
const ORDERS = Number(process.env.BENCH_ORDERS ?? 1000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

async function partnerApi(): Promise<{ url: string; close(): void }> {
  const server = createServer((req, res) => { req.resume(); req.on('end', () => res.writeHead(204).end()); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() };
}

function enableSdk(exporter: InMemorySpanExporter): void {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
}

function disableSdk(): void {
  trace.disable(); context.disable(); propagation.disable();
}

/** One run: save ORDERS orders in transactions of 100, wait until all are published; jobs per second. */
async function run(withSdk: boolean, apiUrl: string): Promise<{ jobsPerSecond: number; spans: number }> {
  const exporter = new InMemorySpanExporter();
  if (withSdk) enableSdk(exporter);
  const db = await freshDatabase(undefined, typeOrm);
  const dataSource = await connect(db.url);
  await createTables(dataSource);
  const prefix = `sync-machine-bench-${randomBytes(4).toString('hex')}`;
  const sync = await SyncMachines.start({
    orm: dataSource, redis: REDIS_URL, prefix, machines: [new OrderToApiSync(new ApiClient(apiUrl))],
    worker: { concurrency: 50 },
  });
  const customer = await dataSource.getRepository(Customer).save({ firstName: 'Jane', lastName: 'Yang', email: '' });
  await sync.drain();
  const started = process.hrtime.bigint();
  for (let i = 0; i < ORDERS; i += 100) {
    await dataSource.transaction(async (em) => {
      for (let j = i; j < Math.min(ORDERS, i + 100); j++) {
        await em.getRepository(Order).save({ customerId: customer.id, status: 'purchased', warehouseCode: 'W1' });
      }
    });
  }
  await sync.drain();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const spans = exporter.getFinishedSpans().length;
  await sync.close();
  await dataSource.destroy();
  await db.dispose();
  const redis = new Redis(REDIS_URL);
  await deleteKeys(redis, prefix);
  await redis.quit();
  if (withSdk) disableSdk();
  return { jobsPerSecond: ORDERS / seconds, spans };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function main(): Promise<void> {
  const api = await partnerApi();
  const plain: number[] = [];
  const traced: number[] = [];
  let spans = 0;
  await run(false, api.url); // warm-up: JIT, connections, SQLite file cache
  for (let round = 1; round <= ROUNDS; round++) {
    plain.push((await run(false, api.url)).jobsPerSecond);
    const withSdk = await run(true, api.url);
    traced.push(withSdk.jobsPerSecond);
    spans = withSdk.spans;
    console.log(`round ${round}: no SDK ${plain.at(-1)!.toFixed(0)} publishes/s, SDK + in-memory exporter ${traced.at(-1)!.toFixed(0)} publishes/s`);
  }
  api.close();
  const [a, b] = [median(plain), median(traced)];
  console.log(`\n${ORDERS} orders saved in transactions of 100, captured, published to a loopback API; median of ${ROUNDS} rounds`);
  console.log(`no SDK registered          ${a.toFixed(0).padStart(6)} publishes/s   1.00`);
  console.log(`SDK, in-memory exporter    ${b.toFixed(0).padStart(6)} publishes/s   ${(b / a).toFixed(2)}   (${spans} spans per run)`);
}

main().catch((error) => { console.error(error); process.exitCode = 1; });
