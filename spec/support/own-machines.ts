import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import Redis from 'ioredis';
import { Build, type EntityClass, ListenTo, Publish, SubjectIdsFrom, SyncMachine, Unpublish } from '../../lib';
import { KeySpace } from '../../lib/redis/keys';
import type { DatabaseKind } from './database';
import type { ApiClient } from './partner-api';
import { REDIS_URL } from './redis';
import type { SuiteRuntime } from './suite-runtime';

/* The machines of the ORM-specific suites (uuid keys, inheritance), written once for either ORM's entity classes. */

interface InvoiceRow { id: string; cents: number; account: { name: string } }

/**
 * Invoices keyed by uuid, mapped from their Account (uuid too): ids travel as the strings they are. `invoicesOf`
 * is the mapper's query, in the ORM's own terms.
 */
export function invoiceMachine(
  Account: EntityClass, Invoice: EntityClass, api: ApiClient, invoicesOf: (accountId: string) => Promise<string[]>,
) {
  @SyncMachine({ subject: Invoice, name: 'InvoiceSync', batchSize: 7 })
  @ListenTo(Invoice)
  @ListenTo(Account, { fields: ['name'] })
  class InvoiceSync {
    @Build() build(invoice: InvoiceRow) {
      return { id: invoice.id, account: invoice.account.name, cents: invoice.cents };
    }

    @Publish() async publish(invoice: InvoiceRow, payload: unknown) {
      await api.putOrder(invoice.id, payload);
    }

    @Unpublish() async unpublish(id: string) {
      await api.deleteOrder(id);
    }

    @SubjectIdsFrom(Account) async invoices(account: { id: string }) {
      return invoicesOf(account.id);
    }
  }
  return new InvoiceSync();
}

/**
 * Resyncs by uuid, after every invoice was published twice: no integer rule applies to the ids, a forced resync of
 * two is two runs (their third publish), a full one finds all ten unchanged.
 */
export async function expectUuidResyncs(suite: SuiteRuntime<unknown>, ids: string[]) {
  const forced = await outcomesOf(suite, async () => {
    expect(await suite.sync.resync('InvoiceSync', { ids: [ids[0], ids[1]], force: true })).to.deep.equal({ enqueued: 2 });
  });
  expect(forced).to.deep.equal({ published: 2 });
  const full = await outcomesOf(suite, async () => {
    expect(await suite.sync.resync('InvoiceSync')).to.deep.equal({ enqueued: 10 });
  });
  expect(full).to.deep.equal({ unchanged: 10 });
  const status = await suite.sync.subjectStatus('InvoiceSync', ids[0]);
  expect(status.published?.version).to.equal(3);
  expect(status.pending).to.equal(false);
}

/**
 * The outcomes of the runs `work` causes, as drain() reports them: also the runs that end while `work` still pages,
 * before drain() is called.
 */
async function outcomesOf(suite: SuiteRuntime<unknown>, work: () => Promise<void>): Promise<Record<string, number>> {
  await work();
  return (await suite.drain()).outcomes;
}

/**
 * An id that is no uuid reaching a run (a mapper's mistake, a request written by hand) matches no row: it is gone,
 * and the rest of its batch goes on (PostgreSQL would refuse the batch's whole query for it). Where the key is a
 * uuid column, the calls that take ids refuse one up front. `published` is the id of an invoice published as it is.
 */
export async function expectNoUuidGone(suite: SuiteRuntime<unknown>, Invoice: EntityClass, published: string, kind: DatabaseKind) {
  const redis = new Redis(REDIS_URL);
  await redis.zadd(new KeySpace(suite.prefix).step('InvoiceSync', 'ensure-publication').pending, 0, 'not-a-uuid');
  redis.disconnect();
  await suite.sync.notifyChanged(Invoice, [published]);
  expect((await suite.drain()).outcomes).to.deep.equal({ not_publishable: 1, unchanged: 1 });
  // Refused on every database: a uuid key kept as text (SQLite, MySQL/MariaDB) took it, and a mapper's numbers for it
  // passed as gone subjects (a trial).
  const refused = await suite.sync.resync('InvoiceSync', { ids: [published, 'not-a-uuid'] }).then(() => 'accepted', (e: Error) => e.message);
  expect(refused).to.equal('resync(InvoiceSync, { ids }): Invoice.id is a uuid key, so ids must be uuids; "not-a-uuid" ' +
    'is not one. Nothing was done: fix it and call again.');
  await suite.drain();
  if (kind !== 'sqlite') {
    // PostgreSQL and MariaDB take a uuid in any case (a uuid column, a case-insensitive collation): one given in upper
    // case is the same subject, not a gone one (a trial's MariaDB reported it gone, and its document stayed stale).
    await suite.sync.notifyChanged(Invoice, [published.toUpperCase()]);
    expect((await suite.drain()).outcomes).to.deep.equal({ unchanged: 1 });
    expect((await suite.sync.subjectStatus('InvoiceSync', published.toUpperCase())).published).to.not.equal(undefined);
  }
}

/**
 * An app that sets its own upper-case uuid on a new row: the entity keeps that spelling through its insert and its
 * later updates, while the database may hand the row out in lower case (PostgreSQL's and MariaDB's uuid columns).
 * It is one subject all along: one document, its version going up, never a gone subject or a second document.
 * `insert` saves a new invoice with this id and returns a function that changes its cents through the same entity.
 */
export async function expectUpperCaseUuidOneSubject(
  suite: SuiteRuntime<unknown>, kind: DatabaseKind, insert: (id: string) => Promise<(cents: number) => Promise<void>>,
  sql: (query: string) => Promise<unknown>,
) {
  const id = randomUUID().toUpperCase();
  const before = suite.api.publishes().length;
  const change = await insert(id);
  expect((await suite.drain()).outcomes).to.deep.equal({ published: 1 });
  await change(4242);
  expect((await suite.drain()).outcomes).to.deep.equal({ published: 1 });
  const published = suite.api.publishes().slice(before);
  expect(published.map((r) => r.id.toLowerCase())).to.deep.equal([id.toLowerCase(), id.toLowerCase()]);
  expect(suite.api.documents.get(published[1].id)).to.include({ cents: 4242 });
  // SQLite compares text as spelled: there the row is the upper-case one, and so is the subject.
  const subject = kind === 'sqlite' ? id : id.toLowerCase();
  expect((await suite.sync.subjectStatus('InvoiceSync', subject)).published?.version).to.equal(2);
  if (kind !== 'mariadb') return;
  // Stored as an earlier version spelled it (upper case, taken as spelled on MySQL/MariaDB before): found all the
  // same, and the next publish goes on from its version, not from 1.
  await sql(`UPDATE sync_machine_payloads SET subject_id = '${id}' WHERE subject_id = '${subject}'`);
  await change(5151);
  expect((await suite.drain()).outcomes).to.deep.equal({ published: 1 });
  const rows = await sql(`SELECT version FROM sync_machine_payloads WHERE subject_id = '${subject}'`) as Array<{ version: unknown }>;
  expect(rows.map((r) => Number(r.version)), 'one stored row, at version 3').to.deep.equal([3]);
}

interface ContentRow { id: number; title: string }

/** What contentMachines publish for a post, a video and a plain content row, as first written by the suites. */
export function firstContentDocuments(post: ContentRow, video: ContentRow, plain: ContentRow): Record<string, unknown> {
  return {
    [`content-${post.id}`]: { title: 'A post', kind: 'Post' },
    [`content-${video.id}`]: { title: 'A video', kind: 'Video' },
    [`content-${plain.id}`]: { title: 'Plain', kind: 'Content' },
    [`post-${post.id}`]: { body: 'Hello' },
  };
}

/**
 * Single-table inheritance: a machine on the parent (Content), whose payload names the loaded object's class, and
 * one on a child (Post) that watches its body only.
 */
export function contentMachines(Content: EntityClass, Post: EntityClass, feed: ApiClient, posts: ApiClient) {
  @SyncMachine({ subject: Content })
  @ListenTo(Content)
  class ContentFeed {
    @Build() build(c: ContentRow) { return { title: c.title, kind: c.constructor.name }; }
    @Publish() async publish(c: ContentRow, payload: unknown) { await feed.putOrder(`content-${c.id}`, payload); }
    @Unpublish() async unpublish(id: string) { await feed.deleteOrder(`content-${id}`); }
  }
  @SyncMachine({ subject: Post })
  @ListenTo(Post, { fields: ['body'] })
  class PostBodies {
    @Build() build(p: ContentRow & { body?: string | null }) { return { body: p.body }; }
    @Publish() async publish(p: ContentRow, payload: unknown) { await posts.putOrder(`post-${p.id}`, payload); }
  }
  return [new ContentFeed(), new PostBodies()];
}

/** Writes behind the ORM for notifiesAcrossTable, in the ORM's own terms. */
export interface RawContentWrites {
  /** Both rows' title to 'Raw'. */
  titles(): Promise<void>;
  /** The post's body to 'Raw body'. */
  body(): Promise<void>;
  /** The video's discriminator to the post's, and its body to 'Was a video'. */
  videoToPost(): Promise<void>;
}

/**
 * notifyChanged across a single-table hierarchy (both inheritance suites): a child's reaches the machines on its
 * parent, a parent's those on its children, and a row notified as its old class those on its new one.
 */
export async function notifiesAcrossTable(
  suite: SuiteRuntime<unknown>, classes: { Content: EntityClass; Post: EntityClass; Video: EntityClass },
  rows: { post: number; video: number }, raw: RawContentWrites,
): Promise<void> {
  const { api, sync } = suite;
  const { Content, Post, Video } = classes;
  const { post, video } = rows;
  await raw.titles();
  // A trial's notifyChanged(VipCustomer) was refused ("no machine listens to it") where Customer's did listen.
  await sync.notifyChanged(Video, video);
  await sync.notifyChanged(Post, post, ['title']); // PostBodies watches body only: ContentFeed takes it
  await suite.drain();
  expect(api.documents.get(`content-${video}`)).to.deep.equal({ title: 'Raw', kind: 'Video' });
  expect(api.documents.get(`content-${post}`)).to.deep.equal({ title: 'Raw', kind: 'Post' });
  expect(api.publishes(`post-${post}`)).to.have.length(1);
  // A parent's names its children too: a row changed behind the ORM may be a Post (a trial's machine on the child
  // stayed stale), and a Video is gone to the machine on Post, which never published it.
  await raw.body();
  await sync.notifyChanged(Content, [post, video]);
  await suite.drain();
  expect(api.publishes(`post-${post}`).map((r) => r.body)).to.deep.equal([{ body: 'Hello' }, { body: 'Raw body' }]);
  expect(api.publishes(`post-${video}`)).to.deep.equal([]);
  // A row whose class changed behind the ORM, notified as the class it was: the machine on its new class sees it.
  await raw.videoToPost();
  await sync.notifyChanged(Video, video);
  await suite.drain();
  expect(api.documents.get(`post-${video}`)).to.deep.equal({ body: 'Was a video' });
  expect(api.documents.get(`content-${video}`)).to.deep.equal({ title: 'Raw', kind: 'Post' });
}
