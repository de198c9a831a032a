import 'reflect-metadata';
import { expect } from 'chai';
import { Entity as MikroEntity, PrimaryKey, Property } from '@mikro-orm/core';
import type { MikroORM } from '@mikro-orm/core';
import { Column, DataSource, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { Build, ListenTo, Publish, SyncMachine, SyncMachines, Unpublish } from '../../lib';
import { createOutboxTable, SyncMachineOutbox as MikroOutbox } from '../../adapters/mikro-orm';
import { CreateSyncMachineOutbox1764892800000, SyncMachineOutbox } from '../../adapters/typeorm';
import { DATABASES, DatabaseKind, TestDatabase } from '../support/database';
import { FAST_WORKER } from '../support/harness';
import { MemoryLogger } from '../support/logger';
import { MikroOrmTestDatabase } from '../support/orms/mikro-orm-database';
import { ApiClient, PartnerApi } from '../support/partner-api';
import { deleteKeys, freshPrefix, REDIS_URL } from '../support/redis';

/*
 * capture: 'outbox' writes a removal's snapshot (every column) into sync_machine_outbox.entry, a TEXT of 65,535
 * bytes on MySQL/MariaDB: a row with long text columns made that insert fail, and with it the application's own
 * remove. The entry now loses the snapshot's longest values until it fits, and says so once.
 */

@Entity('long_articles')
class Article {
  @PrimaryGeneratedColumn() id!: number;
  @Column() title!: string;
  @Column({ type: 'text' }) summary!: string;
  @Column({ type: 'text' }) text!: string;
}

@MikroEntity({ tableName: 'long_articles' })
class MikroArticle {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Property({ type: 'string' }) title!: string;
  @Property({ type: 'text' }) summary!: string;
  @Property({ type: 'text' }) text!: string;
}

function articleSync(entity: Function, api: PartnerApi) {
  @SyncMachine({ subject: entity, name: 'ArticleSync' })
  @ListenTo(entity)
  class ArticleSync {
    @Build() build(a: { id: number; title: string }) { return { id: String(a.id), title: a.title }; }
    @Publish() async publish(a: { id: number }, payload: unknown) { await new ApiClient(api.url).putOrder(String(a.id), payload); }
    @Unpublish() async unpublish(id: string) { await new ApiClient(api.url).deleteOrder(id); }
  }
  return new ArticleSync();
}

/** Each column fits the database's TEXT; together, quoted in JSON, they do not fit one. */
const ROW = { title: 'On length', summary: '"'.repeat(20_000), text: 'x'.repeat(45_000) };

interface World {
  orm: unknown;
  machineFor(api: PartnerApi): object;
  create(): Promise<number>;
  remove(id: number): Promise<void>;
  count(): Promise<number>;
  destroy(): Promise<void>;
}

async function typeOrmWorld(kind: DatabaseKind): Promise<World> {
  const db = await TestDatabase.create(kind, [Article, SyncMachineOutbox]);
  const ds: DataSource = await db.connect({ synchronize: false });
  const qr = ds.createQueryRunner();
  await new CreateSyncMachineOutbox1764892800000().up(qr);
  await qr.release();
  await ds.synchronize();
  const articles = ds.getRepository(Article);
  return {
    orm: ds, machineFor: (api) => articleSync(Article, api),
    create: async () => (await articles.save({ ...ROW })).id,
    remove: async (id) => { await articles.remove(await articles.findOneByOrFail({ id })); },
    count: () => articles.count(),
    destroy: () => db.destroy(),
  };
}

async function mikroOrmWorld(kind: DatabaseKind): Promise<World> {
  const db = await MikroOrmTestDatabase.create(kind, [MikroArticle, MikroOutbox]);
  const orm: MikroORM = await db.connect();
  await createOutboxTable(orm);
  return {
    orm, machineFor: (api) => articleSync(MikroArticle, api),
    create: async () => {
      const em = orm.em.fork();
      const article = em.create(MikroArticle, { ...ROW });
      await em.flush();
      return article.id;
    },
    remove: async (id) => {
      const em = orm.em.fork();
      em.remove(await em.findOneOrFail(MikroArticle, id));
      await em.flush();
    },
    count: () => orm.em.fork().count(MikroArticle, {}),
    destroy: () => db.destroy(),
  };
}

for (const kind of DATABASES) {
  for (const [name, create] of [['TypeORM', typeOrmWorld], ['MikroORM', mikroOrmWorld]] as const) {
    describe(`capture: 'outbox', a removal of a row with long text columns, on ${name} + ${kind}`, () => {
      it('commits the removal and unpublishes it; where the entry column is TEXT, without the longest value, said once', async () => {
        const w = await create(kind);
        const api = await new PartnerApi().start();
        const prefix = freshPrefix('outbox-long');
        const logger = new MemoryLogger();
        const sync = await SyncMachines.start({
          orm: w.orm, redis: REDIS_URL, prefix, logger, machines: [w.machineFor(api)], capture: 'outbox', worker: FAST_WORKER,
        });
        try {
          const id = await w.create();
          await sync.drain({ timeoutMs: 20_000 });
          await w.remove(id);
          expect(await w.count()).to.equal(0);
          await sync.drain({ timeoutMs: 20_000 });
          expect(api.deletes(String(id))).to.have.length(1);
          expect(logger.errors()).to.deep.equal([]);
          const entity = name === 'TypeORM' ? 'Article' : 'MikroArticle';
          expect(logger.warnings().filter((line) => line.includes('sync_machine_outbox'))).to.deep.equal(kind === 'mariadb' ? [
            `sync-machine: the removal of ${entity} ${id} went into sync_machine_outbox without its snapshot's text: with them ` +
            'the entry was longer than the entry column holds (65535 bytes), and its insert would have failed your write. ' +
            `A @SubjectIdsFrom(${entity}) gets the snapshot without them (said once per entity and columns). To keep them, ` +
            "widen the column: ALTER TABLE sync_machine_outbox MODIFY entry LONGTEXT NOT NULL (out of the ORM's schema " +
            'sync, which would narrow it again).',
          ] : []);
        } finally {
          await sync.close();
          await api.stop();
          await w.destroy();
          await deleteKeys(prefix);
        }
      });
    });
  }
}
