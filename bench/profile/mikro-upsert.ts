import 'reflect-metadata';
import { MikroORM, type Options } from '@mikro-orm/core';
import { BetterSqliteDriver } from '@mikro-orm/better-sqlite';
import { createPayloadTable, SyncMachinePayload } from 'sync-machine/mikro-orm';
import { MikroOrmPayloadStore } from '../../adapters/mikro-orm/payload-store';
import { median } from '../throughput/measure';

/* node dist/bench/profile/mikro-upsert.js [rows] [rounds]: the MikroORM payload store's upsert of a batch, as it is and as one raw statement. */
async function main(): Promise<void> {
  const rows = Number(process.argv[2] ?? 500);
  const rounds = Number(process.argv[3] ?? 30);
  const orm = await MikroORM.init({ entities: [SyncMachinePayload], driver: BetterSqliteDriver, dbName: `/tmp/ub/u-${process.pid}.sqlite` } as Options);
  await orm.em.getConnection().execute('pragma journal_mode = WAL');
  await createPayloadTable(orm);
  const store = new MikroOrmPayloadStore(orm);
  const batch = (round: number) => Array.from({ length: rows }, (_, i) => ({
    subjectId: String(round * rows + i), body: JSON.stringify({ id: i, title: `Book ${i}`, author: 'Someone' }), digest: 'a'.repeat(64), generatedAt: new Date(), version: 1,
  }));
  const ms: Record<string, number[]> = { store: [], raw: [], find: [] };
  for (let r = 0; r < rounds; r++) {
    let t = performance.now();
    await store.savePublished('m', batch(r));
    ms.store.push(performance.now() - t);
    t = performance.now();
    await store.findDigests('m', batch(r).map((b) => b.subjectId));
    ms.find.push(performance.now() - t);
    const b = batch(r + 1000);
    t = performance.now();
    const conn = orm.em.getConnection();
    const values = b.map(() => '(?, ?, ?, ?, ?, ?, ?)').join(', ');
    const now = new Date().toISOString();
    await conn.execute(`insert into sync_machine_payloads (machine, subject_id, body, digest, generated_at, published_at, version) values ${values} ` +
      'on conflict (machine, subject_id) do update set body = excluded.body, digest = excluded.digest, generated_at = excluded.generated_at, published_at = excluded.published_at, version = excluded.version',
      b.flatMap((x) => ['m', x.subjectId, x.body, x.digest, x.generatedAt.toISOString(), now, x.version]));
    ms.raw.push(performance.now() - t);
  }
  for (const [k, v] of Object.entries(ms)) console.log(k, median(v).toFixed(2), 'ms per', rows);
  await orm.close();
}
main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
