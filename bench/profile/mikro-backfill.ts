import 'reflect-metadata';
import { createHash } from 'node:crypto';
import { Collection, Entity, ManyToOne, MikroORM, OneToMany, OptionalProps, type Options, PrimaryKey, Property } from '@mikro-orm/core';
import { BetterSqliteDriver } from '@mikro-orm/better-sqlite';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';
import { Build, ListenTo, Publish, SubjectIdsFrom, SyncMachine, SyncMachines } from 'sync-machine';
import type { Snapshot } from 'sync-machine';
import { createPayloadTable, SyncMachinePayload } from 'sync-machine/mikro-orm';
import { CountingApi } from '../throughput/api';
import { freshDatabase } from '../throughput/database';
import { Prefixes } from '../throughput/runtime';
import { parsePostgresUrl } from '../../demo/database';
import { profiled } from './cpu-profile';

/*
 * Trial P's shape on MikroORM: 20,000 books of 2,000 authors (Book -> Author eager), a machine whose payload holds
 * the author's name, resync -> drain at the default concurrency beside the loop that user wrote (pages of 500 ids,
 * em.find with the author, build, PUT at 10 at once, sha256 digests kept in memory) and the same loop remembering
 * its digests in a table (as the bench's loops do). First pass (everything posted), then a pass with nothing changed.
 * node dist/bench/profile/mikro-backfill.js sqlite|postgres [books] [rounds]; PROFILE=<file>: CPU profile of
 * sync-machine's passes.
 */
@Entity({ tableName: 'mb_authors' })
class Author {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Property({ type: 'string' }) name!: string;
  @OneToMany(() => Book, (b) => b.author) books = new Collection<Book>(this);
}

@Entity({ tableName: 'mb_books' })
class Book {
  [OptionalProps]?: 'stock';
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Property({ type: 'string' }) title!: string;
  @Property({ type: 'integer' }) priceCents!: number;
  @Property({ type: 'integer' }) stock: number = 0;
  @ManyToOne(() => Author, { eager: true }) author!: Author;
}

@Entity({ tableName: 'mb_digests' })
class LoopDigest {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Property({ type: 'string' }) digest!: string;
}

const buildBook = (b: Book) => ({ id: String(b.id), title: b.title, priceCents: b.priceCents, stock: b.stock, authorName: b.author.name });

async function put(url: string, id: number, body: unknown): Promise<void> {
  const res = await fetch(`${url}/orders/${id}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`PUT ${id}: ${res.status}`);
  await res.arrayBuffer();
}

function machineFor(url: string): object {
  @SyncMachine({ subject: Book })
  @ListenTo(Book, { fields: ['title', 'priceCents', 'stock', 'author'] })
  @ListenTo(Author, { fields: ['name'] })
  class BookSync {
    @SubjectIdsFrom(Author)
    async booksOf(author: Author | Snapshot<Author>): Promise<number[]> {
      if (!('books' in author)) return [];
      return (await (author as Author).books.loadItems()).map((b) => b.id);
    }
    @Build() build(b: Book) { return buildBook(b); }
    @Publish() async publish(b: Book, payload: unknown) { await put(url, b.id, payload); }
  }
  return new BookSync();
}

/** Trial P's loop; `persist`: its digests upserted into a table instead of a Map. */
async function loop(orm: MikroORM, url: string, digests: Map<number, string>, persist: boolean): Promise<number> {
  let last = 0;
  let sent = 0;
  for (;;) {
    const em = orm.em.fork();
    const ids = (await em.find(Book, { id: { $gt: last } }, { fields: ['id'], orderBy: { id: 'asc' }, limit: 500, populate: [] })).map((b) => b.id);
    if (ids.length === 0) return sent;
    last = ids[ids.length - 1];
    const books = await em.find(Book, { id: { $in: ids } }, { populate: ['author'] });
    const known = persist ? new Map((await em.find(LoopDigest, { id: { $in: ids } })).map((d) => [d.id, d.digest])) : digests;
    const posted: Array<{ id: number; digest: string }> = [];
    let i = 0;
    await Promise.all(Array.from({ length: 10 }, async () => {
      while (i < books.length) {
        const b = books[i++];
        const body = buildBook(b);
        const d = createHash('sha256').update(JSON.stringify(body)).digest('hex');
        if (known.get(b.id) === d) continue;
        await put(url, b.id, body);
        // PER_ROW=1: each digest upserted as its post succeeds (the bench's loops), instead of one upsert a page.
        if (persist && process.env.PER_ROW === '1') await em.fork().upsert(LoopDigest, { id: b.id, digest: d });
        else if (persist) posted.push({ id: b.id, digest: d });
        else digests.set(b.id, d);
        sent++;
      }
    }));
    if (posted.length > 0) await em.upsertMany(LoopDigest, posted);
  }
}


async function main(): Promise<void> {
  const kind = (process.argv[2] ?? 'sqlite') as 'postgres' | 'sqlite';
  const n = Number(process.argv[3] ?? 20_000);
  const rounds = Number(process.argv[4] ?? 2);
  const api = await new CountingApi().start();
  const prefixes = new Prefixes('redis://127.0.0.1:6379');
  const db = await freshDatabase(kind, 'postgres://postgres@127.0.0.1:5432/test');
  const entities = [Author, Book, LoopDigest, SyncMachinePayload];
  const orm = await MikroORM.init(kind === 'sqlite'
    ? { entities, driver: BetterSqliteDriver, dbName: db.url.slice('sqlite:'.length) } as Options
    : { entities, driver: PostgreSqlDriver, clientUrl: parsePostgresUrl(db.url).url, schema: parsePostgresUrl(db.url).schema } as Options);
  if (kind === 'sqlite') await orm.em.getConnection().execute('pragma journal_mode = WAL');
  await createPayloadTable(orm);
  await orm.schema.updateSchema(kind === 'postgres' ? { schema: parsePostgresUrl(db.url).schema } : {});
  const knex = (orm.em as unknown as { getKnex(): (table: string) => { insert(rows: object[]): Promise<unknown> } }).getKnex();
  const authors = Math.ceil(n / 10);
  for (let i = 0; i < authors; i += 400) {
    await knex('mb_authors').insert(Array.from({ length: Math.min(400, authors - i) }, (_, j) => ({ id: i + j + 1, name: `Author ${i + j + 1}` })));
  }
  for (let i = 0; i < n; i += 100) {
    await knex('mb_books').insert(Array.from({ length: Math.min(100, n - i) }, (_, j) => {
      const id = i + j + 1;
      return { id, title: `Book ${id}`, price_cents: 1000 + (id % 500), stock: id % 17, author_id: Math.ceil(id / 10) };
    }));
  }
  const sync = await SyncMachines.start({ orm, redis: 'redis://127.0.0.1:6379', prefix: prefixes.fresh('mb'), machines: [machineFor(api.url)], worker: {} });
  const ratio = (a: number, b: number) => (a / b).toFixed(2);
  for (let round = 0; round < rounds; round++) {
    await orm.em.nativeDelete(SyncMachinePayload, {});
    await orm.em.nativeDelete(LoopDigest, {});
    const memory = new Map<number, string>();
    const time = async (work: () => Promise<unknown>) => { const t = performance.now(); await work(); return performance.now() - t; };
    let pass = 0;
    const machinePass = () => profiled(process.env.PROFILE && `${process.env.PROFILE}.${round}.${pass++ === 0 ? 'changed' : 'unchanged'}`, async () => { await sync.resync('BookSync'); await sync.drain({ timeoutMs: 600_000 }); });
    // Alternate who goes first, so warm-up falls on each in turn.
    const first = { loop: 0, persisted: 0, machine: 0 };
    const second = { loop: 0, persisted: 0, machine: 0 };
    const loopPass = () => profiled(process.env.PROFILE_LOOP && `${process.env.PROFILE_LOOP}.${round}`, () => loop(orm, api.url, memory, false));
    if (round % 2 === 0) {
      first.machine = await time(machinePass);
      first.loop = await time(loopPass);
      first.persisted = await time(() => loop(orm, api.url, memory, true));
      second.machine = await time(machinePass);
      second.loop = await time(() => loop(orm, api.url, memory, false));
      second.persisted = await time(() => loop(orm, api.url, memory, true));
    } else {
      first.loop = await time(loopPass);
      first.persisted = await time(() => loop(orm, api.url, memory, true));
      first.machine = await time(machinePass);
      second.loop = await time(() => loop(orm, api.url, memory, false));
      second.persisted = await time(() => loop(orm, api.url, memory, true));
      second.machine = await time(machinePass);
    }
    console.log(`${kind} ${n} books, round ${round}: first pass machine ${first.machine.toFixed(0)} ms, loop (memory) ${first.loop.toFixed(0)}, ` +
      `loop (table) ${first.persisted.toFixed(0)} -> loop/machine ${ratio(first.loop, first.machine)}x / ${ratio(first.persisted, first.machine)}x; ` +
      `unchanged machine ${second.machine.toFixed(0)}, loop ${second.loop.toFixed(0)}, loop (table) ${second.persisted.toFixed(0)} -> ` +
      `${ratio(second.loop, second.machine)}x / ${ratio(second.persisted, second.machine)}x (calls ${api.calls})`);
  }
  await sync.close();
  await orm.close();
  await db.dispose();
  await prefixes.cleanup();
  await api.stop();
}
main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
