import 'reflect-metadata';
import { fork, type ChildProcess } from 'node:child_process';
import { Build, ListenTo, Publish, SyncMachine, SyncMachines } from 'sync-machine';
import { BenchDatabase, connectLean, connectShop, freshDatabase, seedShop } from '../throughput/database';
import { LeanOrder } from '../throughput/entities';
import { sleep } from '../throughput/measure';
import { Prefixes, startSync } from '../throughput/runtime';

/*
 * node dist/bench/profile/two-workers.js [orders] [partner ms] [concurrency] [workers] [batchSize]: how a first
 * publish of `orders` spreads over `workers` worker runtimes (one process, one PostgreSQL schema, one prefix) when
 * each call to the partner takes `partner ms`. Prints the time to drain, the time the calls would take spread evenly
 * (orders × ms ÷ concurrency ÷ workers) and the calls each worker made; then the time of a resync that finds nothing
 * changed (what a smaller batchSize costs where no call is made). A worker's runs each take up to batchSize
 * subjects at once (ceil(concurrency ÷ batchSize) + 3 runs per step), and hand back what waits behind more than a
 * second of their publishes (publish-gate.ts): see the README's "Several workers". With PROCESSES=1 each worker
 * runs in a process of its own, as apps deploy them (in one process the workers share one event loop, and a busy
 * loop makes their runs take whole batches: publish-gate.ts BUSY_LOOP).
 */
const child = process.env.TWO_WORKERS_CHILD ? JSON.parse(process.env.TWO_WORKERS_CHILD) as ChildSettings : undefined;
const [orders, partnerMs, concurrency, workers] = child ? [0, child.partnerMs, child.concurrency, 1]
  : [2, 3, 4, 5].map((i, n) => Number(process.argv[i] ?? [600, 50, 10, 2][n]));
const batchSize = child ? child.batchSize : process.argv[6] === undefined ? undefined : Number(process.argv[6]);
const inProcesses = process.env.PROCESSES === '1';

interface ChildSettings {
  url: string;
  prefix: string;
  partnerMs: number;
  concurrency: number;
  batchSize?: number;
}

/** Where each worker's calls are counted; a call takes partnerMs. */
class SlowPartner {
  constructor(private readonly worker: string, private readonly calls: Map<string, number>) {}

  async put(): Promise<void> {
    this.calls.set(this.worker, (this.calls.get(this.worker) ?? 0) + 1);
    await sleep(partnerMs);
  }
}

@SyncMachine({ subject: LeanOrder, name: 'TwoWorkersSync', ...(batchSize === undefined ? {} : { batchSize }) })
@ListenTo(LeanOrder)
class TwoWorkersSync {
  constructor(private readonly partner: SlowPartner) {}

  @Build()
  build(order: LeanOrder) {
    return { id: String(order.id), status: order.status };
  }

  @Publish()
  async publish(): Promise<void> {
    await this.partner.put();
  }
}

/** A worker process (PROCESSES=1): answers its calls to 'calls', closes and exits on 'stop'. */
async function childWorker(settings: ChildSettings): Promise<void> {
  const calls = new Map<string, number>();
  const lean = await connectLean({ url: settings.url } as BenchDatabase);
  const sync = await startSync(lean, new TwoWorkersSync(new SlowPartner('calls', calls)), 'redis://127.0.0.1:6379', settings.prefix, settings.concurrency);
  process.on('message', (message: string) => {
    if (message === 'calls') process.send!({ calls: calls.get('calls') ?? 0 });
    if (message === 'stop') void sync.close().finally(() => lean.destroy()).finally(() => process.exit(0));
  });
  process.on('disconnect', () => process.exit(1));
  process.send!({ ready: true });
}

/** Starts a worker process and resolves once its runtime has started. */
function startChild(settings: ChildSettings): Promise<ChildProcess> {
  const worker = fork(__filename, [], { env: { ...process.env, TWO_WORKERS_CHILD: JSON.stringify(settings) } });
  return new Promise((resolve, reject) => {
    worker.once('message', () => resolve(worker));
    worker.once('exit', (code) => reject(new Error(`two-workers: a worker process exited with ${code} before it started`)));
  });
}

function ask<T>(worker: ChildProcess, question: string): Promise<T> {
  return new Promise((resolve) => {
    worker.once('message', (answer) => resolve(answer as T));
    worker.send(question);
  });
}

async function main(): Promise<void> {
  for (const [name, value] of Object.entries({ orders, partnerMs, concurrency, workers })) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`two-workers: ${name} must be a whole number above 0, not ${value}`);
  }
  const prefixes = new Prefixes('redis://127.0.0.1:6379');
  const db = await freshDatabase('postgres', 'postgres://postgres@127.0.0.1:5432/test');
  const shop = await connectShop(db);
  const calls = new Map<string, number>();
  const syncs: SyncMachines[] = [];
  const children: ChildProcess[] = [];
  const sources = [];
  try {
    await seedShop(shop, orders, 5);
    const prefix = prefixes.fresh('two-workers');
    if (inProcesses) {
      for (let w = 0; w < workers; w++) children.push(await startChild({ url: db.url, prefix, partnerMs, concurrency, batchSize }));
      // The runtime that resyncs and drains captures only: every call is made in the worker processes.
      const lean = await connectLean(db);
      sources.push(lean);
      syncs.push(await startSync(lean, new TwoWorkersSync(new SlowPartner('none', calls)), 'redis://127.0.0.1:6379', prefix));
      // A worker joins its roll once its queues take tickets: all of them, before the backfill starts.
      for (let waited = 0; (await syncs[0].status())[0].workers < workers; waited += 50) {
        if (waited > 10_000) throw new Error('two-workers: the worker processes did not all join the roll within 10 s');
        await sleep(50);
      }
    }
    for (let w = 0; w < (inProcesses ? 0 : workers); w++) {
      const lean = await connectLean(db);
      sources.push(lean);
      syncs.push(await startSync(lean, new TwoWorkersSync(new SlowPartner(`worker ${w + 1}`, calls)), 'redis://127.0.0.1:6379', prefix, concurrency));
    }
    const started = performance.now();
    await syncs[0].resync(TwoWorkersSync);
    const { outcomes } = await syncs[0].drain({ timeoutMs: 60_000 + orders * partnerMs });
    const ms = performance.now() - started;
    const even = (orders * partnerMs) / concurrency / workers;
    for (const [w, worker] of children.entries()) calls.set(`worker ${w + 1}`, (await ask<{ calls: number }>(worker, 'calls')).calls);
    const handedBack = (await syncs[0].status({ machines: [TwoWorkersSync] }))[0].outcomes['ensure-publication:handed_back'] ?? 0;
    console.log(`${orders} subjects, partner ${partnerMs} ms a call, concurrency ${concurrency}, batchSize ${batchSize ?? 'default'}, ` +
      `${workers} worker${inProcesses ? ' process' : ''}(s): ${ms.toFixed(0)} ms (spread evenly: ${even.toFixed(0)} ms); calls ` +
      `${[...calls].sort().map(([w, n]) => `${w} ${n}`).join(', ')}; handed back ${handedBack}; outcomes ${JSON.stringify(outcomes)}`);
    if (outcomes.published !== orders) throw new Error(`two-workers: ${outcomes.published ?? 0} of ${orders} published`);
    const again = performance.now();
    await syncs[0].resync(TwoWorkersSync);
    const unchanged = await syncs[0].drain({ timeoutMs: 60_000 + orders * partnerMs });
    console.log(`  then a resync with nothing changed: ${(performance.now() - again).toFixed(0)} ms; outcomes ${JSON.stringify(unchanged.outcomes)}`);
    if (unchanged.outcomes.unchanged !== orders) throw new Error(`two-workers: ${unchanged.outcomes.unchanged ?? 0} of ${orders} unchanged`);
  } finally {
    for (const worker of children) worker.send('stop');
    await Promise.all(children.map((worker) => new Promise((resolve) => worker.once('exit', resolve))));
    for (const sync of syncs) await sync.close();
    for (const source of sources) await source.destroy();
    await shop.destroy();
    await db.dispose();
    await prefixes.cleanup();
  }
}

(child ? childWorker(child) : main()).catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
