import { expect } from 'chai';
import { ChildEntity, Column, Entity, PrimaryGeneratedColumn, TableInheritance } from 'typeorm';
import { Build, ListenTo, Publish, SyncMachine, SyncMachines } from '../../lib';
import { consoleLogger } from '../../lib/logger';
import { pickAdapter } from '../../lib/runtime/pick-adapter';
import { DATABASES } from '../support/database';
import { contentMachines, firstContentDocuments, notifiesAcrossTable } from '../support/own-machines';
import { ApiClient } from '../support/partner-api';
import { REDIS_URL } from '../support/redis';
import { suiteRuntime, typeOrmOn } from '../support/suite-runtime';

@Entity('inherit_content')
@TableInheritance({ column: { type: 'varchar', name: 'type' } })
class Content {
  @PrimaryGeneratedColumn() id!: number;
  @Column({ type: 'varchar' }) title!: string;
}

@ChildEntity()
class Post extends Content {
  @Column({ type: 'varchar', nullable: true }) body!: string | null;
}

@ChildEntity()
class Video extends Content {
  @Column({ type: 'int', nullable: true }) seconds!: number | null;
}

/**
 * Single-table inheritance: TypeORM reports a child's writes with the child's metadata. A machine that listens to
 * the parent gets them as changes of the parent, and a machine that listens to a child gets its own.
 */
for (const kind of DATABASES) {
  describe(`single-table inheritance on TypeORM + ${kind}`, () => {
    const s = suiteRuntime(`inherit-${kind}`, () => typeOrmOn(kind, [Content, Post, Video]),
      (api) => contentMachines(Content, Post, new ApiClient(api.url, 'feed'), new ApiClient(api.url, 'posts')));

    it('publishes the inserts, updates and removals of every child through a machine on the parent', async () => {
      const { orm: ds, api, sync } = s;
      const post = await ds.getRepository(Post).save({ title: 'A post', body: 'Hello' });
      const video = await ds.getRepository(Video).save({ title: 'A video', seconds: 30 });
      const plain = await ds.getRepository(Content).save({ title: 'Plain' });
      // A run may end before drain() is called (drain counts what ends after): the API's documents are the check.
      await sync.drain({ timeoutMs: 20_000 });
      expect(Object.fromEntries(api.documents)).to.deep.equal(firstContentDocuments(post, video, plain));

      post.title = 'The post';
      await ds.getRepository(Post).save(post);
      await sync.drain({ timeoutMs: 20_000 });
      expect(api.documents.get(`content-${post.id}`)).to.deep.equal({ title: 'The post', kind: 'Post' });
      post.body = 'Hi';
      await ds.getRepository(Post).save(post);
      const videoId = video.id; // remove() clears it
      await ds.getRepository(Video).remove(video);
      await sync.drain({ timeoutMs: 20_000 });
      expect(api.documents.get(`post-${post.id}`)).to.deep.equal({ body: 'Hi' });
      expect(api.documents.has(`content-${videoId}`)).to.equal(false);
      expect(api.deletes().map((r) => r.id)).to.deep.equal([`content-${videoId}`]);
      // The post machine listens to its body only: the title change reached the feed, not it.
      expect(api.publishes(`post-${post.id}`)).to.have.length(2);
    });

    it('notifyChanged reaches the machines on every class of the table, as its captured writes do', async () => {
      const ds = s.orm;
      const post = await ds.getRepository(Post).save({ title: 'A post', body: 'Hello' });
      const video = await ds.getRepository(Video).save({ title: 'A video', seconds: 30 });
      await s.drain();
      await notifiesAcrossTable(s, { Content, Post, Video }, { post: post.id, video: video.id }, {
        titles: async () => { await ds.query(`UPDATE inherit_content SET title = 'Raw' WHERE id IN (${post.id}, ${video.id})`); },
        body: async () => { await ds.query(`UPDATE inherit_content SET body = 'Raw body' WHERE id = ${post.id}`); },
        videoToPost: async () => {
          await ds.query(`UPDATE inherit_content SET type = 'Post', body = 'Was a video' WHERE id = ${video.id}`);
        },
      });
    });

    it('refuses a listener on another class of the subject\'s table without a mapper, naming the subject\'s own class', async () => {
      @SyncMachine({ subject: Post }) @ListenTo(Content)
      class PostsFromContent { @Build() b() { return {}; } @Publish() p() {} }
      const error = await SyncMachines.start({ orm: s.orm, redis: REDIS_URL, machines: [new PostsFromContent()] })
        .then((sync) => sync.close(), (e: Error) => e);
      // A trial was steered to write an identity mapper.
      expect((error as Error).message).to.equal('PostsFromContent listens to Content but has no @SubjectIdsFrom(Content) method: ' +
        'add one that, given a changed Content, returns the Post ids it affects. Or, as Content and Post share one table, ' +
        'listen to the subject itself: @ListenTo(Post).');
    });

    it("finds a child's stored subjects whose row is no longer that child as gone, as its paging would", async () => {
      const { orm: ds, sync } = s;
      const post = await ds.getRepository(Post).save({ title: 'Turns', body: 'into a video' });
      await sync.drain({ timeoutMs: 20_000 });
      const adapter = pickAdapter(ds, consoleLogger);
      // The query carries the child's discriminator condition, with its parameters.
      const gone = adapter.storedWithoutRow!(Post, 'PostBodies')!;
      expect(await gone(undefined, 100)).to.not.include(String(post.id));
      await ds.query(`UPDATE inherit_content SET type = 'Video' WHERE id = ${post.id}`);
      expect(await adapter.pageIds(Post, String(post.id - 1), 1)).to.not.include(String(post.id));
      expect(await gone(undefined, 100)).to.include(String(post.id));
      expect(await adapter.storedWithoutRow!(Content, 'ContentFeed')!(undefined, 100)).to.not.include(String(post.id));
    });
  });
}
