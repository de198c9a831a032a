import 'reflect-metadata';
import { expect } from 'chai';
import { Collection, Embeddable, Embedded, Entity, ManyToMany, MikroORM, PrimaryKey, Property } from '@mikro-orm/core';
import { Build, ListenTo, Publish, SubjectIdsFrom, SyncMachine } from '../../lib';
import { DATABASES } from '../support/database';
import { ApiClient } from '../support/partner-api';
import { mikroOrmOn, suiteRuntime } from '../support/suite-runtime';

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

function articleMachine(client: ApiClient, orm: MikroORM) {
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
  return new ArticleSync();
}

/** The TypeORM suite of the same name (spec/typeorm/links-and-embeddeds.spec.ts), on MikroORM. */
for (const kind of DATABASES) {
  describe(`many-to-many links and embedded columns on MikroORM + ${kind}`, () => {
    const s = suiteRuntime(`links-mikro-${kind}`, () => mikroOrmOn(kind, [Tag, Article]), (api, orm) => [articleMachine(new ApiClient(api.url), orm)]);
    const drain = () => s.drain();

    it('republishes when a link is added or removed, from either side, and when an embedded property changes', async () => {
      const { orm, api } = s;
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
