import 'reflect-metadata';
import { expect } from 'chai';
import { Collection, Embeddable, Embedded, Entity, ManyToMany, MikroORM, PrimaryKey, Property } from '@mikro-orm/core';
import { Build, ListenTo, Publish, SubjectIdsFrom, SyncMachine, SyncMachines } from '../../lib';
import { DATABASES } from '../support/database';
import { FAST_WORKER } from '../support/harness';
import { MemoryLogger } from '../support/logger';
import { MikroOrmTestDatabase } from '../support/orms/mikro-orm-database';
import { ApiClient, PartnerApi } from '../support/partner-api';
import { deleteKeys, freshPrefix, REDIS_URL } from '../support/redis';

@Embeddable()
class Address {
  @Property({ type: 'string' }) city: string = '';
  @Property({ type: 'string' }) zip: string = '';
}

@Entity({ tableName: 'link_tags' })
class Tag {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Property({ type: 'string' }) name!: string;
  @ManyToMany(() => Article, (a) => a.tags) articles = new Collection<Article>(this);
}

@Entity({ tableName: 'link_articles' })
class Article {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Property({ type: 'string' }) title!: string;
  @Embedded(() => Address) address: Address = new Address();
  @ManyToMany(() => Tag, (t) => t.articles, { owner: true }) tags = new Collection<Tag>(this);
}

/** The TypeORM suite of the same name (spec/typeorm/links-and-embeddeds.spec.ts), on MikroORM. */
for (const kind of DATABASES) {
  describe(`many-to-many links and embedded columns on MikroORM + ${kind}`, () => {
    let db: MikroOrmTestDatabase;
    let orm: MikroORM;
    let api: PartnerApi;
    let sync: SyncMachines;
    const prefix = freshPrefix(`links-mikro-${kind}`);
    const drain = () => sync.drain({ timeoutMs: 20_000 });

    before(async () => {
      db = await MikroOrmTestDatabase.create(kind, [Tag, Article]);
      orm = await db.connect();
      api = await new PartnerApi().start();
      const client = new ApiClient(api.url);
      @SyncMachine({ subject: Article, relations: ['tags'] })
      @ListenTo(Article, { fields: ['title', 'tags', 'address'] })
      @ListenTo(Tag, { fields: ['name'] })
      class ArticleSync {
        @Build() build(a: Article) {
          return { title: a.title, city: a.address.city, tags: a.tags.getItems().map((t) => t.name).sort() };
        }

        @Publish() async publish(a: Article, payload: unknown) { await client.putOrder(String(a.id), payload); }
        @SubjectIdsFrom(Tag) async articles(t: Tag) { return (await orm.em.fork().find(Article, { tags: t.id })).map((a) => a.id); }
      }
      sync = await SyncMachines.start({
        orm, redis: REDIS_URL, prefix, logger: new MemoryLogger(), worker: FAST_WORKER, machines: [new ArticleSync()],
      });
    });

    after(async () => {
      await sync?.close();
      await api?.stop();
      await db?.destroy();
      await deleteKeys(prefix);
    });

    it('republishes when a link is added or removed, from either side, and when an embedded property changes', async () => {
      const em = orm.em.fork();
      const [a, b] = [em.create(Tag, { name: 'a' }), em.create(Tag, { name: 'b' })];
      await em.flush();
      await drain();
      const article = em.create(Article, { title: 'T', address: { city: 'Paris', zip: '75001' } });
      article.tags.add(a);
      await em.flush();
      // A run may end before drain() is called (drain counts what ends after): the API's document is the check.
      const published = async () => {
        await drain();
        return api.documents.get(String(article.id));
      };
      expect(await published()).to.deep.equal({ title: 'T', city: 'Paris', tags: ['a'] });

      article.tags.add(b);
      await em.flush();
      expect(await published()).to.deep.include({ tags: ['a', 'b'] });
      article.tags.remove(a);
      await em.flush();
      expect(await published()).to.deep.include({ tags: ['b'] });

      // From the inverse side, an existing tag, and inside a transaction.
      await orm.em.fork().transactional(async (tem) => {
        const tag = await tem.findOneOrFail(Tag, { name: 'a' }, { populate: ['articles'] });
        tag.articles.add(tem.getReference(Article, article.id));
      });
      expect(await published()).to.deep.include({ tags: ['a', 'b'] });

      article.address.city = 'Lyon';
      await em.flush();
      expect(await published()).to.deep.equal({ title: 'T', city: 'Lyon', tags: ['a', 'b'] });
      expect(api.publishes(String(article.id))).to.have.length(5);
    });
  });
}
