import 'reflect-metadata';
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import type { MikroORM } from '@mikro-orm/core';
import { canonicalJson, digestOf } from 'sync-machine';
import { ApiClient } from '../../demo/api-client';
import { connect, createTables } from '../../demo/mikro-orm/orm';
import { OrderToApiSync } from '../../demo/mikro-orm/order-to-api-sync';
import { Customer, Order } from '../../demo/mikro-orm/shop';
import { CountingApi } from '../throughput/api';
import { freshDatabase } from '../throughput/database';
import { mapLimit, median } from '../throughput/measure';
import { Prefixes, startSync } from '../throughput/runtime';

/*
 * node dist/bench/profile/mikro-subjects.js postgres|sqlite [orders] [rounds]: the throughput rows on MikroORM (the
 * bench's are TypeORM's): the demo's MikroORM machine against the loop a MikroORM user would write (page ids, load
 * the page with em.find, build each, compare sha256 with the remembered digests, post the changed, remember them),
 * alternating rounds of every order changed, then of nothing changed. PROFILE=<file>: CPU profiles of the machine's
 * unchanged rounds; PROFILE_CHANGED=<file>: of its changed rounds instead.
 */
/** A table of the run's own schema on PostgreSQL (raw SQL does not get MikroORM's). */
const inSchema = (orm: MikroORM, table: string) => {
  const schema = orm.config.get('schema');
  return schema ? `"${schema}".${table}` : table;
};

async function runLoop(orm: MikroORM, machine: OrderToApiSync, client: ApiClient): Promise<number> {
  const conn = orm.em.getConnection();
  let after = 0;
  let posted = 0;
  for (;;) {
    const em = orm.em.fork();
    const ids = (await em.find(Order, { id: { $gt: after } }, { fields: ['id'], orderBy: { id: 'asc' }, limit: 500 })).map((o) => o.id);
    if (ids.length === 0) return posted;
    after = ids[ids.length - 1];
    const marks = ids.map(() => '?').join(',');
    const [rows, remembered] = await Promise.all([
      em.find(Order, { id: { $in: ids } }),
      conn.execute<Array<{ subject_id: string; digest: string }>>(`select subject_id, digest from ${inSchema(orm, 'loop_digests')} where subject_id in (${marks})`, ids.map(String)),
    ]);
    const known = new Map(remembered.map((r: { subject_id: string; digest: string }) => [String(r.subject_id), r.digest]));
    const changed = rows.map((row) => {
      const payload = machine.build(row);
      return { row, payload, digest: digestOf(canonicalJson(payload)) };
    }).filter((x) => known.get(String(x.row.id)) !== x.digest);
    await mapLimit(changed, 50, async ({ row, payload, digest }) => {
      await client.putOrder(String(row.id), payload);
      await conn.execute(`insert into ${inSchema(orm, 'loop_digests')} (subject_id, digest) values (?, ?) on conflict (subject_id) do update set digest = excluded.digest`, [String(row.id), digest]);
    });
    posted += changed.length;
  }
}

async function main(): Promise<void> {
  const kind = (process.argv[2] ?? 'sqlite') as 'postgres' | 'sqlite';
  const n = Number(process.argv[3] ?? 5000);
  const rounds = Number(process.argv[4] ?? 9);
  const api = await new CountingApi().start();
  const client = new ApiClient(api.url);
  const prefixes = new Prefixes('redis://127.0.0.1:6379');
  const db = await freshDatabase(kind, 'postgres://postgres@127.0.0.1:5432/test');
  const orm = await connect(db.url);
  await createTables(orm);
  await orm.em.getConnection().execute(`create table ${inSchema(orm, 'loop_digests')} (subject_id varchar(64) primary key, digest varchar(64) not null)`);
  const seed = orm.em.fork();
  const customers = Array.from({ length: Math.ceil(n / 5) }, (_, i) => seed.create(Customer, { firstName: `F${i}`, lastName: `L${i}` }));
  Array.from({ length: n }, (_, i) => seed.create(Order, { customer: customers[i % customers.length] }));
  await seed.flush();
  const machine = new OrderToApiSync(client);
  const sync = await startSync(orm, machine, 'redis://127.0.0.1:6379', prefixes.fresh('mikro-subjects'), 50);
  await sync.resync(OrderToApiSync);
  await sync.drain({ timeoutMs: 120_000 });
  await runLoop(orm, machine, client);

  // A raw UPDATE (not timed), then notifyChanged of every order, as a migration would: the capture is not measured.
  const update = (status: string) => orm.em.getConnection().execute(`update ${inSchema(orm, 'orders')} set status = ?`, [status]);
  const ids = (await orm.em.fork().getDriver().find('Order', {}, { fields: ['id'] as never })).map((r) => (r as { id: number }).id);
  const notifyAll = async () => {
    for (let i = 0; i < ids.length; i += 500) await sync.notifyChanged(Order, ids.slice(i, i + 500), ['status']);
  };
  const session = new Session();
  session.connect();
  const profiles: unknown[] = [];
  const timed = async (work: () => Promise<unknown>, profile = false) => {
    if (profile) {
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: 100 });
      await session.post('Profiler.start');
    }
    const t = performance.now();
    await work();
    const ms = performance.now() - t;
    if (profile) profiles.push((await session.post('Profiler.stop')).profile);
    return ms;
  };
  const result: Record<string, number[]> = { changedMachine: [], changedLoop: [], unchangedMachine: [], unchangedLoop: [] };
  const machineRun = async () => { await notifyAll(); await sync.drain({ timeoutMs: 120_000 }); };
  for (let i = 0; i < rounds; i++) {
    // Changed: the machine's round starts from notifyChanged of every order (its enqueue counted), the loop's after
    // the same UPDATE; each works every order off.
    await update(i % 2 ? 'purchased' : 'shipped');
    const calls = api.calls;
    result.changedMachine.push(await timed(machineRun, process.env.PROFILE === 'changed' || !!process.env.PROFILE_CHANGED));
    if (api.calls - calls !== n) throw new Error(`mikro-subjects: the machine made ${api.calls - calls} calls for ${n} changed orders`);
    await update(i % 2 ? 'cancelled' : 'draft');
    const loopCalls = api.calls;
    result.changedLoop.push(await timed(() => runLoop(orm, machine, client)));
    if (api.calls - loopCalls !== n) throw new Error(`mikro-subjects: the loop made ${api.calls - loopCalls} calls for ${n} changed orders`);
    const quiet = api.calls;
    const pair: Array<[string, () => Promise<unknown>]> = [
      ['unchangedMachine', async () => { await sync.resync(OrderToApiSync); await sync.drain({ timeoutMs: 120_000 }); }],
      ['unchangedLoop', () => runLoop(orm, machine, client)],
    ];
    // The machine's round first, so that it finds the state the loop's changed round left... after a resync of it.
    await sync.resync(OrderToApiSync);
    await sync.drain({ timeoutMs: 120_000 });
    const before = api.calls;
    for (const [name, work] of i % 2 ? pair.reverse() : pair) result[name].push(await timed(work, name === 'unchangedMachine' && !!process.env.PROFILE && !process.env.PROFILE_CHANGED));
    if (api.calls !== before) throw new Error(`mikro-subjects: ${api.calls - before} calls in unchanged rounds (${quiet})`);
  }
  const rate = (ms: number[]) => Math.round(n / (median(ms) / 1000));
  const ratio = (a: number[], b: number[]) => median(a.map((x, i) => b[i] / x)).toFixed(3);
  console.log(`${kind}, MikroORM, ${n} orders, ${rounds} rounds (medians): changed machine ${rate(result.changedMachine)}/s, ` +
    `loop ${rate(result.changedLoop)}/s, machine ÷ loop ${ratio(result.changedMachine, result.changedLoop)}; unchanged machine ` +
    `${rate(result.unchangedMachine)}/s, loop ${rate(result.unchangedLoop)}/s, machine ÷ loop ${ratio(result.unchangedMachine, result.unchangedLoop)}`);
  if (process.env.PROFILE) writeFileSync(process.env.PROFILE, JSON.stringify(profiles));
  if (process.env.PROFILE_CHANGED) writeFileSync(process.env.PROFILE_CHANGED, JSON.stringify(profiles));
  session.disconnect();
  await sync.close();
  await orm.close();
  await db.dispose();
  await prefixes.cleanup();
  await api.stop();
}
main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
