import { DataSource, In } from 'typeorm';
import type { SyncMachines } from 'sync-machine';
import { ApiClient } from '../../../demo/api-client';
import { OrderToApiSync } from '../../../demo/typeorm/order-to-api-sync';
import { Order } from '../../../demo/typeorm/shop';
import { BatchedOrderSync } from '../batched-machine';
import { BenchConfig, boundMs, DatabaseKind } from '../config';
import { customerLoader } from '../customer-loader';
import { connectLean, connectShop, freshDatabase, seedShop } from '../database';
import type { CountingApi } from '../api';
import { LeanOrder } from '../entities';
import { HandLoop, runHandLoop } from '../hand-loop';
import { LeanOrderSync } from '../lean-machine';
import { median, now } from '../measure';
import { Prefixes, startSync } from '../runtime';

/** Subjects per second of each contender, every order changed once, then resynced with nothing changed. */
export interface SubjectRates {
  changed: { syncMachine: number; loop: number; batchedLoop: number; batchedSyncMachine: number; pageLoop: number };
  unchanged: { syncMachine: number; loop: number; batchedLoop: number; batchedSyncMachine: number; pageLoop: number };
  /** Unchanged resyncs of a fresh app's machine (own columns only, async `@Build`) and of its loop. */
  leanUnchanged: { syncMachine: number; loop: number };
}

/** A contender that sync-machine runs: the machine, its DataSource, its own prefix. */
interface Contender {
  machine: object;
  machineClass: new (...args: never[]) => object;
  orm: DataSource;
  prefix: string;
}

/**
 * Per database: N orders; each contender publishes them all once (priming, also the warm-up), then every order's
 * status flips (captured, or told by notifyChanged) and each contender works the changes off, in rounds that flip
 * it back and forth; then each checks everything again with nothing changed. All in one run, same rows, same
 * loopback API.
 */
export async function measureSubjectRates(
  config: BenchConfig, kind: DatabaseKind, api: CountingApi, prefixes: Prefixes, log: (line: string) => void,
): Promise<SubjectRates> {
  const db = await freshDatabase(kind, config.postgresUrl);
  const shop = await connectShop(db);
  const lean = await connectLean(db);
  const workers: SyncMachines[] = [];
  try {
    const ids = await seedShop(shop, config.orders, config.ordersPerCustomer);
    const client = new ApiClient(api.url);
    const demoMachine = new OrderToApiSync(client);
    const batchedMachine = new BatchedOrderSync(customerLoader(lean), client);
    const plain: Contender = { machine: demoMachine, machineClass: OrderToApiSync, orm: shop, prefix: prefixes.fresh('subjects') };
    const batched: Contender = { machine: batchedMachine, machineClass: BatchedOrderSync, orm: lean, prefix: prefixes.fresh('batched') };
    const leanMachine = new LeanOrderSync(client);
    const leanAsync: Contender = { machine: leanMachine, machineClass: LeanOrderSync, orm: lean, prefix: prefixes.fresh('lean') };
    const publish = (row: { id: number }, payload: unknown) => client.putOrder(String(row.id), payload);
    const loop: HandLoop<Order> = {
      name: 'loop', dataSource: shop, entity: Order, build: (row) => demoMachine.build(row), publish,
      pageSize: config.pageSize, concurrency: config.concurrency,
    };
    // The same loop remembering each page's digests in one upsert: no goal, the leaner baseline a user may write.
    const pageLoop: HandLoop<Order> = { ...loop, name: 'page-loop', rememberPerPage: true };
    const batchedLoop: HandLoop<LeanOrder> = {
      name: 'batched-loop', dataSource: lean, entity: LeanOrder, build: (row) => batchedMachine.build(row), publish,
      pageSize: config.pageSize, concurrency: config.concurrency,
    };
    const leanLoop: HandLoop<LeanOrder> = {
      name: 'lean-loop', dataSource: lean, entity: LeanOrder, build: (row) => leanMachine.build(row), publish,
      pageSize: config.pageSize, concurrency: config.concurrency,
    };

    const n = ids.length;
    const rate = (ms: number) => n / (ms / 1000);
    const timed = async (what: string, expectPosted: number, work: () => Promise<unknown>) => {
      const calls = api.calls;
      const started = now();
      await work();
      const ms = now() - started;
      const posted = api.calls - calls;
      if (posted !== expectPosted) throw new Error(`bench: ${what} made ${posted} API calls, expected ${expectPosted}`);
      log(`  ${kind}: ${what}: ${n} subjects in ${(ms / 1000).toFixed(2)} s (${rate(ms).toFixed(0)}/s)`);
      return rate(ms);
    };
    const resyncAll = async (c: Contender) => {
      const sync = await startSync(c.orm, c.machine, config.redisUrl, c.prefix, config.concurrency);
      workers.push(sync);
      await sync.resync(c.machineClass);
      await sync.drain({ timeoutMs: boundMs(n) });
      return sync;
    };

    // Priming: every contender publishes every order once (first publishes; JIT and caches warm up too).
    await timed('prime sync-machine', n, async () => (await resyncAll(plain)).close());
    await timed('prime sync-machine + DataLoader', n, async () => (await resyncAll(batched)).close());
    await timed('prime loop', n, () => runHandLoop(loop, n));
    await timed('prime loop, digests remembered per page', n, () => runHandLoop(pageLoop, n));
    await timed('prime batched loop', n, () => runHandLoop(batchedLoop, n));

    // Every order changes (its status flips, to `status`) in transactions of 500 through save(), captured by a
    // capture-only runtime (the app's web process); the batched machine is told by notifyChanged. No worker may
    // run meanwhile: the contenders' workers start only when timed.
    const running = new Map<Contender, SyncMachines>();
    const flipAll = async (status: 'shipped' | 'purchased') => {
      for (const sync of running.values()) await sync.close();
      running.clear();
      const capture = await startSync(shop, plain.machine, config.redisUrl, plain.prefix);
      for (let i = 0; i < n; i += 500) {
        await shop.transaction(async (manager) => {
          for (const order of await manager.getRepository(Order).findBy({ id: In(ids.slice(i, i + 500)) })) {
            order.status = status;
            await manager.save(order);
          }
        });
      }
      await capture.close();
      const notify = await startSync(lean, batched.machine, config.redisUrl, batched.prefix);
      for (let i = 0; i < n; i += 500) await notify.notifyChanged(LeanOrder, ids.slice(i, i + 500), ['status']);
      await notify.close();
    };
    // The workers stay up for the resync below, as in an app.
    const workOff = async (c: Contender) => {
      const sync = await startSync(c.orm, c.machine, config.redisUrl, c.prefix, config.concurrency);
      workers.push(sync);
      running.set(c, sync);
      await sync.drain({ timeoutMs: boundMs(n) });
    };
    // Rounds alternate which of a pair (or trio) goes first (one pass swung by a tenth on SQLite); each rate is a median.
    const inTurn = async (label: string, round: number, expectPosted: number, contenders: Array<[string, () => Promise<unknown>]>) => {
      const order = contenders.map((_, i) => i);
      if (round % 2 === 1) order.reverse();
      const rates: number[] = [];
      for (const i of order) rates[i] = await timed(`${label}, ${contenders[i][0]} (round ${round + 1})`, expectPosted, contenders[i][1]);
      return rates;
    };
    const pairRates = async (
      label: string, round: number, expectPosted: number,
      first: [string, () => Promise<unknown>], second: [string, () => Promise<unknown>],
    ): Promise<[number, number]> => {
      const [a, b] = await inTurn(label, round, expectPosted, [first, second]);
      return [a, b];
    };
    const changedRounds: Array<SubjectRates['changed']> = [];
    for (let round = 0; round < config.changedRounds; round++) {
      await flipAll(round % 2 === 0 ? 'shipped' : 'purchased');
      const [syncMachine, loopRate, pageLoopRate] = await inTurn('changed', round, n, [
        ['sync-machine (worker start -> drain)', () => workOff(plain)], ['hand-written loop', () => runHandLoop(loop, n)],
        ['hand-written loop, digests remembered per page', () => runHandLoop(pageLoop, n)]]);
      const [batchedSyncMachine, batchedLoopRate] = await pairRates('changed', round, n,
        ['sync-machine + DataLoader machine', () => workOff(batched)],
        ['hand-written loop + DataLoader', () => runHandLoop(batchedLoop, n)]);
      changedRounds.push({ syncMachine, loop: loopRate, batchedLoop: batchedLoopRate, batchedSyncMachine, pageLoop: pageLoopRate });
    }
    const changed = medians(changedRounds);

    const resync = async (c: Contender) => {
      const sync = running.get(c)!;
      await sync.resync(c.machineClass);
      await sync.drain({ timeoutMs: boundMs(n) });
    };
    // The fresh app's machine publishes every order once now, after the flips (the other contenders' priming also
    // warmed up the code it shares); its worker stays up for its resyncs.
    await timed('prime sync-machine, async @Build on own columns', n, async () => running.set(leanAsync, await resyncAll(leanAsync)));
    await timed('prime loop, async @Build on own columns', n, () => runHandLoop(leanLoop, n));

    // Nothing changed: cheap enough to repeat, and one pass of either contender swings by a quarter on a busy
    // machine. The warm-up rounds run the same pairs and are left out of the medians (see unchangedWarmUpRounds).
    const rounds: Array<SubjectRates['unchanged']> = [];
    const leanRounds: Array<SubjectRates['leanUnchanged']> = [];
    const warmUp = config.unchangedWarmUpRounds;
    for (let round = 0; round < warmUp + config.unchangedRounds; round++) {
      const label = round < warmUp ? 'unchanged, warm-up' : 'unchanged';
      const [syncMachine, loopRate, pageLoopRate] = await inTurn(label, round, 0, [
        ['sync-machine resync -> drain', () => resync(plain)], ['hand-written loop', () => runHandLoop(loop, n)],
        ['hand-written loop, digests remembered per page', () => runHandLoop(pageLoop, n)]]);
      const [batchedSyncMachine, batchedLoopRate] = await pairRates(label, round, 0,
        ['sync-machine + DataLoader resync -> drain', () => resync(batched)],
        ['hand-written loop + DataLoader', () => runHandLoop(batchedLoop, n)]);
      const [leanSyncMachine, leanLoopRate] = await pairRates(label, round, 0,
        ['sync-machine, async @Build on own columns, resync -> drain', () => resync(leanAsync)],
        ['hand-written loop, async @Build on own columns', () => runHandLoop(leanLoop, n)]);
      if (round < warmUp) continue;
      rounds.push({ syncMachine, loop: loopRate, batchedLoop: batchedLoopRate, batchedSyncMachine, pageLoop: pageLoopRate });
      leanRounds.push({ syncMachine: leanSyncMachine, loop: leanLoopRate });
    }
    const unchanged = medians(rounds);
    const leanUnchanged = {
      syncMachine: median(leanRounds.map((r) => r.syncMachine)), loop: median(leanRounds.map((r) => r.loop)),
    };
    return { changed, unchanged, leanUnchanged };
  } finally {
    for (const sync of workers) await sync.close();
    await lean.destroy();
    await shop.destroy();
    await db.dispose();
  }
}

/** Each contender's median over the rounds. */
function medians(rounds: Array<SubjectRates['changed']>): SubjectRates['changed'] {
  const middle = (pick: (r: SubjectRates['changed']) => number) => median(rounds.map(pick));
  return {
    syncMachine: middle((r) => r.syncMachine), loop: middle((r) => r.loop),
    batchedLoop: middle((r) => r.batchedLoop), batchedSyncMachine: middle((r) => r.batchedSyncMachine), pageLoop: middle((r) => r.pageLoop),
  };
}
