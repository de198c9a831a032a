import 'reflect-metadata';
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import { ApiClient } from '../../demo/api-client';
import { CountingApi } from '../throughput/api';
import { connectLean, connectShop, freshDatabase, seedShop } from '../throughput/database';
import { LeanOrder } from '../throughput/entities';
import { HandLoop, runHandLoop } from '../throughput/hand-loop';
import { LeanOrderSync } from '../throughput/lean-machine';
import { OrderToApiSync } from '../../demo/typeorm/order-to-api-sync';
import { Order } from '../../demo/typeorm/shop';
import { median } from '../throughput/measure';
import { Prefixes, startSync } from '../throughput/runtime';

/*
 * node dist/bench/profile/lean-unchanged.js postgres|sqlite [orders] [rounds] [lean|demo]: the bench's fresh-app
 * unchanged row alone (LeanOrderSync, own columns, async @Build, against its hand-written loop), alternating rounds,
 * with each round's wall and CPU time; `demo`: the unchanged resync row instead (the demo's OrderToApiSync, which
 * loads each order's customer, against its loop). PROFILE=<file> / PROFILE_LOOP=<file>: a CPU profile of the
 * machine's / the loop's rounds.
 */
async function main(): Promise<void> {
  const kind = (process.argv[2] ?? 'sqlite') as 'postgres' | 'sqlite';
  const n = Number(process.argv[3] ?? 5000);
  const rounds = Number(process.argv[4] ?? 15);
  const api = await new CountingApi().start();
  const prefixes = new Prefixes('redis://127.0.0.1:6379');
  const db = await freshDatabase(kind, 'postgres://postgres@127.0.0.1:5432/test');
  const shop = await connectShop(db);
  await seedShop(shop, n, 5);
  const lean = await connectLean(db);
  const client = new ApiClient(api.url);
  const demo = process.argv[5] === 'demo';
  if (process.argv[5] !== undefined && !demo && process.argv[5] !== 'lean') {
    throw new Error(`lean-unchanged: the machine is lean or demo, not ${process.argv[5]}`);
  }
  const machine = demo ? new OrderToApiSync(client) : new LeanOrderSync(client);
  const machineClass = demo ? OrderToApiSync : LeanOrderSync;
  const publish = (row: { id: number }, payload: unknown) => client.putOrder(String(row.id), payload);
  const shape = { publish, pageSize: 500, concurrency: 50 };
  const loop: HandLoop<LeanOrder> | HandLoop<Order> = demo
    ? { ...shape, name: 'loop', dataSource: shop, entity: Order, build: (row: Order) => (machine as OrderToApiSync).build(row) }
    : {
      ...shape, name: 'lean-loop', dataSource: lean, entity: LeanOrder,
      build: (row: LeanOrder) => (machine as LeanOrderSync).build(row),
    };
  const sync = await startSync(demo ? shop : lean, machine, 'redis://127.0.0.1:6379', prefixes.fresh('lean-profile'), 50);
  await sync.resync(machineClass);
  await sync.drain({ timeoutMs: 120_000 });
  await runHandLoop(loop as HandLoop<LeanOrder>, n);
  const session = new Session();
  session.connect();
  const profiles: Record<string, unknown[]> = { machine: [], loop: [] };
  const times: Record<string, number[]> = { machine: [], loop: [] };
  const cpus: Record<string, number[]> = { machine: [], loop: [] };
  const round = async (who: 'machine' | 'loop') => {
    const file = who === 'machine' ? process.env.PROFILE : process.env.PROFILE_LOOP;
    if (file) {
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: 100 });
      await session.post('Profiler.start');
    }
    const t = performance.now();
    const cpu = process.cpuUsage();
    if (who === 'machine') {
      await sync.resync(machineClass);
      await sync.drain({ timeoutMs: 120_000 });
    } else {
      await runHandLoop(loop as HandLoop<LeanOrder>, n);
    }
    const used = process.cpuUsage(cpu);
    times[who].push(performance.now() - t);
    cpus[who].push((used.user + used.system) / 1000);
    if (file) profiles[who].push((await session.post('Profiler.stop')).profile);
  };
  const calls = api.calls;
  for (let i = 0; i < rounds; i++) {
    if (i % 2 === 0) { await round('machine'); await round('loop'); } else { await round('loop'); await round('machine'); }
  }
  if (api.calls !== calls) throw new Error(`lean-unchanged: ${api.calls - calls} API calls in unchanged rounds`);
  const ratios = times.machine.map((ms, i) => times.loop[i] / ms);
  console.log(`${kind} ${n} orders, ${rounds} rounds: machine ${median(times.machine).toFixed(1)} ms (cpu ${median(cpus.machine).toFixed(0)}), ` +
    `loop ${median(times.loop).toFixed(1)} ms (cpu ${median(cpus.loop).toFixed(0)}); machine ÷ loop rate, median of pairs ${median(ratios).toFixed(3)}`);
  // Every round's profile, as a JSON array (each is a .cpuprofile of its own).
  if (process.env.PROFILE) writeFileSync(process.env.PROFILE, JSON.stringify(profiles.machine));
  if (process.env.PROFILE_LOOP) writeFileSync(process.env.PROFILE_LOOP, JSON.stringify(profiles.loop));
  session.disconnect();
  await sync.close();
  await lean.destroy();
  await shop.destroy();
  await db.dispose();
  await prefixes.cleanup();
  await api.stop();
}
main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
