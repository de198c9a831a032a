import 'reflect-metadata';
import { expect } from 'chai';
import { Collection, Entity, ManyToMany, MikroORM, PrimaryKey, Property } from '@mikro-orm/core';
import { Build, ListenTo, Publish, SubjectIdsFrom, SyncMachine, SyncMachines } from '../../lib';
import { MemoryLogger } from '../support/logger';
import { MikroOrmTestDatabase } from '../support/orms/mikro-orm-database';
import { deleteKeys, freshPrefix, REDIS_URL } from '../support/redis';

@Entity({ tableName: 'schema_tags' })
class Label {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Property({ type: 'string' }) name!: string;
  @ManyToMany(() => Book, (b) => b.labels) books = new Collection<Book>(this);
}

@Entity({ tableName: 'schema_books' })
class Book {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Property({ type: 'string' }) title!: string;
  @ManyToMany(() => Label, (l) => l.books, { owner: true }) labels = new Collection<Label>(this);
}

@SyncMachine({ subject: Book, relations: ['labels'] })
@ListenTo(Book, { fields: ['title', 'labels'] })
@ListenTo(Label, { fields: ['name'] })
class BookSync {
  @Build() build(b: Book) { return { title: b.title, labels: b.labels.getItems().map((l) => l.name) }; }
  @Publish() publish() { /* the API: the stored version counts the publishes */ }
  @SubjectIdsFrom(Label) books() { return []; }
}

/**
 * An app whose tables live in the schema MikroORM's `schema` option names, with no search_path of its own (the
 * suites set one, which hid this): removing one side of a many-to-many link reads its pivot rows in that schema.
 * The read looked the pivot up unqualified, and failed the user's flush with it.
 */
describe('the `schema` option alone, on MikroORM + postgres', () => {
  const prefix = freshPrefix('schema-option');
  let db: MikroOrmTestDatabase;
  let orm: MikroORM;
  let sync: SyncMachines;

  before(async () => {
    db = await MikroOrmTestDatabase.create('postgres', [Label, Book]);
    await db.connect(); // creates the tables, through the suite's search_path
    orm = await db.connect({ options: { driverOptions: {} } as never });
    sync = await SyncMachines.start({ orm, redis: REDIS_URL, prefix, machines: [new BookSync()], worker: { concurrency: 2 }, logger: new MemoryLogger(),
    });
  });

  after(async () => {
    await sync?.close();
    await db?.destroy();
    await deleteKeys(prefix);
  });

  it('removes a linked entity, from either side, and requests the other side', async () => {
    const em = orm.em.fork();
    const [a, b] = [em.create(Label, { name: 'a' }), em.create(Label, { name: 'b' })];
    const book = em.create(Book, { title: 'T' });
    book.labels.add(a, b);
    await em.flush();
    await sync.drain({ timeoutMs: 10_000 });
    expect((await sync.subjectStatus(BookSync, book.id)).published?.version).to.equal(1);

    const removing = orm.em.fork();
    removing.remove(removing.getReference(Label, a.id));
    await removing.flush();
    expect(await orm.em.fork().count(Label, {})).to.equal(1);
    // The book's row did not change; its labels did, and it was published again.
    expect((await sync.drain({ timeoutMs: 10_000 })).outcomes).to.deep.equal({ published: 1 });
    expect((await sync.subjectStatus(BookSync, book.id)).published?.version).to.equal(2);

    const owning = orm.em.fork();
    owning.remove(owning.getReference(Book, book.id));
    await owning.flush();
    expect(await orm.em.fork().count(Book, {})).to.equal(0);
    expect((await sync.drain({ timeoutMs: 10_000 })).outcomes).to.deep.equal({ unpublished: 1 });
  });
});
