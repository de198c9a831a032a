import { Build, type EntityClass, ListenTo, Publish, SubjectIdsFrom, SyncMachine, Unpublish } from '../../lib';
import type { ApiClient } from './partner-api';

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

interface ContentRow { id: number; title: string }

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
