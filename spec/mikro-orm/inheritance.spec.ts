import 'reflect-metadata';
import { expect } from 'chai';
import { Entity, PrimaryKey, Property } from '@mikro-orm/core';
import { DATABASES } from '../support/database';
import { contentMachines, firstContentDocuments, notifiesAcrossTable } from '../support/own-machines';
import { ApiClient } from '../support/partner-api';
import { mikroOrmOn, suiteRuntime } from '../support/suite-runtime';

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
    const s = suiteRuntime(`inherit-mikro-${kind}`, () => mikroOrmOn(kind, [Content, Post, Video]), (api) => contentMachines(Content, Post, new ApiClient(api.url), new ApiClient(api.url)));

    it('publishes the inserts, updates and removals of every child through a machine on the parent', async () => {
      const { orm, api, sync } = s;
      const em = orm.em.fork();
      const post = em.create(Post, { title: 'A post', body: 'Hello' });
      const video = em.create(Video, { title: 'A video', seconds: 30 });
      const plain = em.create(Content, { title: 'Plain' });
      await em.flush();
      // A run may end before drain() is called (drain counts what ends after): the API's documents are the check.
      await sync.drain({ timeoutMs: 20_000 });
      expect(Object.fromEntries(api.documents)).to.deep.equal(firstContentDocuments(post, video, plain));

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

    it('notifyChanged reaches the machines on every class of the table, as its flushed changes do', async () => {
      const em = s.orm.em.fork();
      const post = em.create(Post, { title: 'A post', body: 'Hello' });
      const video = em.create(Video, { title: 'A video', seconds: 30 });
      await em.flush();
      await s.drain();
      await notifiesAcrossTable(s, { Content, Post, Video }, { post: post.id, video: video.id }, {
        titles: async () => { await em.nativeUpdate(Content, { id: { $in: [post.id, video.id] } }, { title: 'Raw' }); },
        body: async () => { await em.nativeUpdate(Post, { id: post.id }, { body: 'Raw body' }); },
        videoToPost: async () => {
          await em.getConnection().execute(`UPDATE inherit_content SET type = 'post', body = 'Was a video' WHERE id = ${video.id}`);
        },
      });
    });
  });
}
