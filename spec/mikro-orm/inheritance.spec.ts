import 'reflect-metadata';
import { expect } from 'chai';
import { Entity, MikroORM, PrimaryKey, Property } from '@mikro-orm/core';
import { Build, ListenTo, Publish, SyncMachine, SyncMachines, Unpublish } from '../../lib';
import { DATABASES } from '../support/database';
import { FAST_WORKER } from '../support/harness';
import { MemoryLogger } from '../support/logger';
import { MikroOrmTestDatabase } from '../support/orms/mikro-orm-database';
import { ApiClient, PartnerApi } from '../support/partner-api';
import { deleteKeys, freshPrefix, REDIS_URL } from '../support/redis';

@Entity({ tableName: 'inherit_content', discriminatorColumn: 'type', discriminatorValue: 'content' })
class Content {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Property({ type: 'string' }) title!: string;
}

@Entity({ discriminatorValue: 'post' })
class Post extends Content {
  @Property({ type: 'string', nullable: true }) body?: string;
}

@Entity({ discriminatorValue: 'video' })
class Video extends Content {
  @Property({ type: 'integer', nullable: true }) seconds?: number;
}

/** The TypeORM suite of the same name (spec/typeorm/inheritance.spec.ts), on MikroORM. */
for (const kind of DATABASES) {
  describe(`single-table inheritance on MikroORM + ${kind}`, () => {
    let db: MikroOrmTestDatabase;
    let orm: MikroORM;
    let api: PartnerApi;
    let sync: SyncMachines;
    const prefix = freshPrefix(`inherit-mikro-${kind}`);

    before(async () => {
      db = await MikroOrmTestDatabase.create(kind, [Content, Post, Video]);
      orm = await db.connect();
      api = await new PartnerApi().start();
      const client = new ApiClient(api.url);
      @SyncMachine({ subject: Content })
      @ListenTo(Content)
      class ContentFeed {
        @Build() build(c: Content) { return { title: c.title, kind: c.constructor.name }; }
        @Publish() async publish(c: Content, payload: unknown) { await client.putOrder(`content-${c.id}`, payload); }
        @Unpublish() async unpublish(id: string) { await client.deleteOrder(`content-${id}`); }
      }
      @SyncMachine({ subject: Post })
      @ListenTo(Post, { fields: ['body'] })
      class PostBodies {
        @Build() build(p: Post) { return { body: p.body }; }
        @Publish() async publish(p: Post, payload: unknown) { await client.putOrder(`post-${p.id}`, payload); }
      }
      sync = await SyncMachines.start({
        orm, redis: REDIS_URL, prefix, logger: new MemoryLogger(), worker: FAST_WORKER, machines: [new ContentFeed(), new PostBodies()],
      });
    });

    after(async () => {
      await sync?.close();
      await api?.stop();
      await db?.destroy();
      await deleteKeys(prefix);
    });

    it('publishes the inserts, updates and removals of every child through a machine on the parent', async () => {
      const em = orm.em.fork();
      const post = em.create(Post, { title: 'A post', body: 'Hello' });
      const video = em.create(Video, { title: 'A video', seconds: 30 });
      const plain = em.create(Content, { title: 'Plain' });
      await em.flush();
      // A run may end before drain() is called (drain counts what ends after): the API's documents are the check.
      await sync.drain({ timeoutMs: 20_000 });
      expect(Object.fromEntries(api.documents)).to.deep.equal({
        [`content-${post.id}`]: { title: 'A post', kind: 'Post' },
        [`content-${video.id}`]: { title: 'A video', kind: 'Video' },
        [`content-${plain.id}`]: { title: 'Plain', kind: 'Content' },
        [`post-${post.id}`]: { body: 'Hello' },
      });

      post.title = 'The post';
      await em.flush();
      await sync.drain({ timeoutMs: 20_000 });
      expect(api.documents.get(`content-${post.id}`)).to.deep.equal({ title: 'The post', kind: 'Post' });
      post.body = 'Hi';
      em.remove(video);
      await em.flush();
      await sync.drain({ timeoutMs: 20_000 });
      expect(api.documents.get(`post-${post.id}`)).to.deep.equal({ body: 'Hi' });
      expect(api.documents.has(`content-${video.id}`)).to.equal(false);
      expect(api.deletes().map((r) => r.id)).to.deep.equal([`content-${video.id}`]);
      expect(api.publishes(`post-${post.id}`)).to.have.length(2);
    });
  });
}
