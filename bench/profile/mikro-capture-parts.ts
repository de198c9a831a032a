import 'reflect-metadata';
import Redis from 'ioredis';
import { connect, createTables } from '../../demo/mikro-orm/orm';
import { Customer, Order } from '../../demo/mikro-orm/shop';
import { OrderToApiSync } from '../../demo/mikro-orm/order-to-api-sync';
import { ApiClient } from '../../demo/api-client';
import { freshDatabase } from '../throughput/database';
import { Prefixes, startSync } from '../throughput/runtime';
import { CaptureSubscriber } from '../../adapters/mikro-orm/capture-subscriber';
import { MikroOrmAdapter } from '../../adapters/mikro-orm/adapter';
import { median, sleep } from '../throughput/measure';
/*
 * node --expose-gc dist/bench/profile/mikro-capture-parts.js postgres|sqlite [rounds] [GCV=1] [VARIANTS=a,b]: where a captured
 * 1,000-row MikroORM transaction's extra time goes. Variants, `rounds` (default 41) each, alternating order:
 * - plain: no runtime;
 * - noopSub: the capture subscriber with a listener that does nothing;
 * - pingSub: the subscriber with a listener that awaits one Redis PING: the least that SPEC §2.1 allows (the write
 *   call resolves only once its changes are in Redis, so one round trip after the commit is always paid);
 * - full: the bench's captured round; fullNoMark: the same with the mark replaced by nothing (the runtime's own
 *   path, no Redis); fullPing: with the mark replaced by a PING (what the mark costs beyond any round trip);
 * - startClose: the bench's plain round (a runtime started and closed first); runtimeNoSub: a runtime whose
 *   subscriber is unregistered.
 * Prints each median, the median of its per-round ratio to plain and to startClose and of its difference to plain
 * (ms), the GC time that fell inside each variant's transactions (PerformanceObserver), and each variant's hook
 * times in place (the commit hook includes the listener, so the mark).
 */
const T: Record<string, number[]> = {};
/** The variant whose round runs now: hook times are kept per variant. */
let current = '';
function wrap(C: any, m: string, label: string) { const o = C.prototype[m]; C.prototype[m] = async function (...a: any[]) { const t = performance.now(); try { return await o.apply(this, a); } finally { (T[`${current} ${label}`] ??= []).push(performance.now() - t); } }; }
async function main() {
  const { WorkQueue } = require('../../lib/pipeline/work-queue');
  wrap(CaptureSubscriber, 'afterTransactionCommit', 'commitHook');
  wrap(WorkQueue, 'mark', 'mark');
  wrap(CaptureSubscriber, 'afterFlush', 'afterFlush');
  wrap(CaptureSubscriber, 'onFlush', 'onFlush');
  const kind = (process.argv[2] ?? 'postgres') as 'postgres' | 'sqlite';
  const rounds = Number(process.argv[3] ?? 41);
  const inARow = Number(process.env.IN_A_ROW ?? 1);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`mikro-capture-parts: rounds must be a whole number above 0, not ${process.argv[3]}`);
  const db = await freshDatabase(kind, 'postgres://postgres@127.0.0.1:5432/test');
  const orm = await connect(db.url);
  await createTables(orm);
  const em0 = orm.em.fork();
  const cs = Array.from({ length: 200 }, (_, i) => em0.create(Customer, { firstName: `F${i}`, lastName: `L${i}` }));
  const os = Array.from({ length: 1000 }, (_, i) => em0.create(Order, { customer: cs[i % 200] }));
  await em0.flush();
  const ids = os.map((o) => o.id);
  const prefixes = new Prefixes('redis://127.0.0.1:6379');
  let flip = 0; const gcIn: number[] = []; const gcAfter: number[] = []; const gcEntries: any[] = [];
  const { PerformanceObserver } = require('node:perf_hooks');
  new PerformanceObserver((list: any) => gcEntries.push(...list.getEntries())).observe({ entryTypes: ['gc'] });
  const tx = async () => {
    flip++;
    const em = orm.em.fork();
    const orders = await em.find(Order, { id: { $in: ids } });
    const t = performance.now();
    await em.transactional(async () => { for (const o of orders) o.status = flip % 2 ? 'shipped' : 'purchased'; });
    // IN_A_ROW=n: n transactions back to back, timed as one (what a writer's throughput sees: work an await lets
    // run inside one transaction would otherwise run inside the next).
    for (let n = 1; n < inARow; n++) {
      flip++;
      await em.transactional(async () => { for (const o of orders) o.status = flip % 2 ? 'shipped' : 'purchased'; });
    }
    const e = performance.now(); await sleep(5);
    const gcMs = (from: number, to: number) => gcEntries.filter((g) => g.startTime >= from && g.startTime < to).reduce((a, g) => a + g.duration, 0);
    // After the transaction too: a scavenge that V8 had due runs at the first event-loop turn, which an awaited round
    // trip gives it inside the transaction, and a transaction with no I/O wait (SQLite) only after it.
    gcIn.push(gcMs(t, e)); gcAfter.push(gcMs(e, Infinity)); gcEntries.length = 0;
    return e - t;
  };
  const adapter = new MikroOrmAdapter(orm);
  const machine = new OrderToApiSync(new ApiClient('http://127.0.0.1:9'));
  const redis = new Redis('redis://127.0.0.1:6379');
  await redis.ping();
  const mark = WorkQueue.prototype.mark;
  // PREWARM: a PING sent (not awaited) as the transaction is about to commit, in the *Prewarm variants only: whether
  // Redis woken before the commit answers the enqueue after it sooner (an idle vCPU's wake-up, on a VM).
  let prewarm = false;
  orm.em.getEventManager().registerSubscriber({ beforeTransactionCommit: () => { if (prewarm) void redis.ping(); } });
  const prewarmed = (variant: () => Promise<number>) => async () => {
    prewarm = true;
    try { return await variant(); } finally { prewarm = false; }
  };
  /** A captured round whose mark is `instead` (the runtime's own mark: the bench's captured round). */
  const fullWith = (instead: (this: { redis: Redis }) => Promise<number>) => async () => {
    const sync = await startSync(orm, machine, 'redis://127.0.0.1:6379', prefixes.fresh('mk'));
    WorkQueue.prototype.mark = instead;
    try { await sleep(100); return await tx(); } finally { WorkQueue.prototype.mark = mark; await sync.close(); }
  };
  const variants: Record<string, () => Promise<number>> = {
    plain: async () => { await sleep(100); return tx(); },
    // The runtime's own subscriber, registered as the runtime does, with a listener that does nothing.
    noopSub: async () => {
      const unsubscribe = adapter.onCommitted(new Set([Order]), async () => {});
      try { await sleep(100); return await tx(); } finally { unsubscribe(); }
    },
    pingSub: async () => {
      const unsubscribe = adapter.onCommitted(new Set([Order]), async () => { await redis.ping(); });
      try { await sleep(100); return await tx(); } finally { unsubscribe(); }
    },
    // One event-loop turn and no I/O: what any awaited step in the commit hook lets run inside the transaction.
    immediateSub: async () => {
      const unsubscribe = adapter.onCommitted(new Set([Order]), () => new Promise<void>((resolve) => setImmediate(resolve)));
      try { await sleep(100); return await tx(); } finally { unsubscribe(); }
    },
    fullNoMark: fullWith(async () => 0),
    fullPing: fullWith(async function () { await this.redis.ping(); return 0; }),
    full: fullWith(mark),
  };
  variants.pingPrewarm = prewarmed(variants.pingSub);
  variants.fullPrewarm = prewarmed(variants.full);
  variants.startClose = async () => {
      const sync = await startSync(orm, machine, 'redis://127.0.0.1:6379', prefixes.fresh('mk'));
      await sync.close(); await sleep(100); return tx();
  };
  if (process.env.GCV) variants.fullGc = async () => {
      const sync = await startSync(orm, machine, 'redis://127.0.0.1:6379', prefixes.fresh('mk'));
      try { await sleep(100); (global as any).gc(); await sleep(20); return await tx(); } finally { await sync.close(); }
  };
  if (process.env.GCV) variants.plainGc = async () => { await sleep(100); (global as any).gc(); await sleep(20); return tx(); };
  variants.runtimeNoSub = async () => {
      const sync = await startSync(orm, machine, 'redis://127.0.0.1:6379', prefixes.fresh('mk'));
      (sync as any).unsubscribe();
      try { await sleep(100); return await tx(); } finally { await sync.close(); }
  };
  // VARIANTS=plain,pingSub,full: only these (plain always, as the ratios' base), for more rounds in the same time.
  const chosen = process.env.VARIANTS?.split(',');
  const unknown = chosen?.filter((v) => !(v in variants));
  if (unknown?.length) throw new Error(`mikro-capture-parts: no variant ${unknown.join(', ')}; the variants: ${Object.keys(variants).join(', ')}`);
  for (const v of Object.keys(variants)) if (chosen && v !== 'plain' && !chosen.includes(v)) delete variants[v];
  const gcOf: Record<string, number[]> = {};
  const gcAfterOf: Record<string, number[]> = {};
  const res: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  for (const v of Object.keys(variants)) {
    current = `${v} (warm-up)`;
    await variants[v]();
  }
  for (let i = 0; i < rounds; i++) {
    for (const v of (i % 2 ? Object.keys(variants).reverse() : Object.keys(variants))) {
      current = v;
      res[v].push(await variants[v]());
      (gcOf[v] ??= []).push(gcIn[gcIn.length - 1]);
      (gcAfterOf[v] ??= []).push(gcAfter[gcAfter.length - 1]);
    }
  }
  const pr = (a: string) => median(res[a].map((x, i) => x / res.plain[i])).toFixed(3);
  for (const v of Object.keys(variants)) {
    const toStartClose = res.startClose ? median(res[v].map((x, i) => x / res.startClose[i])).toFixed(3) : '-';
    console.log(v, median(res[v]).toFixed(1), pr(v), 'vs startClose', toStartClose, 'ms over plain', median(res[v].map((x, i) => x - res.plain[i])).toFixed(2));
  }
  const mean = (v: number[]) => (v.reduce((a, b) => a + b, 0) / v.length).toFixed(2);
  for (const [k, v] of Object.entries(gcOf)) {
    console.log('gc in tx', k, 'mean', mean(v), 'rounds with gc', v.filter((x) => x > 0).length, '| in the 5 ms after: mean', mean(gcAfterOf[k]));
  }
  for (const [k, v] of Object.entries(T)) console.log(k, v.length, median(v).toFixed(3));
  await redis.quit();
  await prefixes.cleanup(); await orm.close(); await db.dispose();
}
main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
