import { expect } from 'chai';
import type { SuiteRuntime } from './suite-runtime';

/** Ids of a 64-bit key: past 2^32, and on PostgreSQL and MariaDB past 2^53, where a JS number loses digits. */
export function bigintIds(kind: string): string[] {
  const ids = ['1099511627776', '1099511627777'];
  // better-sqlite3 reads an integer as a JS number: past 2^53 the ORM hands out a rounded id, whatever sync-machine does.
  if (kind !== 'sqlite') ids.push('9007199254740993');
  return ids;
}

/**
 * After every invoice (ids: bigintIds) was published once: ids that a bigint cannot hold are refused up front by
 * each call that takes ids, naming the rule and requesting nothing; ids that it can hold resync as they are.
 */
export async function expectBigintIds(suite: SuiteRuntime<unknown>, Invoice: Function, ids: string[]): Promise<void> {
  const { sync } = suite;
  const refusal = (call: () => Promise<unknown>) => call().then(() => 'accepted', (e: Error) => e.message);
  const rule = (id: string) => `Invoice.id is a bigint key, so ids must be whole numbers from -2^63 to 2^63-1; "${id}" is not one. ` +
    'Nothing was done: fix it and call again.';
  expect(await refusal(() => sync.resync('InvoiceSync', { ids: ['4x'] }))).to.equal(`resync(InvoiceSync, { ids }): ${rule('4x')}`);
  expect(await refusal(() => sync.resync('InvoiceSync', { ids: [ids[0], '9223372036854775808'] })))
    .to.equal(`resync(InvoiceSync, { ids }): ${rule('9223372036854775808')}`);
  expect(await refusal(() => sync.notifyChanged(Invoice as never, '4x', ['cents']))).to.contain(rule('4x'));
  expect(await refusal(() => sync.subjectStatus('InvoiceSync', 'x'))).to.contain(rule('x'));
  expect(await refusal(() => sync.reconcile('InvoiceSync', { ids: ['1.5'] }))).to.contain(rule('1.5'));
  // The largest and smallest a bigint holds are ids like any other: no row has them, so the run finds the subject gone.
  expect(await sync.resync('InvoiceSync', { ids: ['9223372036854775807', '-9223372036854775808'] })).to.deep.equal({ enqueued: 2 });
  expect(await suite.drain()).to.deep.include({ outcomes: { not_publishable: 2 }, failed: [] });

  expect(await sync.resync('InvoiceSync', { ids: [ids[ids.length - 1]], force: true })).to.deep.equal({ enqueued: 1 });
  expect((await suite.drain()).outcomes).to.deep.equal({ published: 1 });
  expect(await sync.resync('InvoiceSync')).to.deep.equal({ enqueued: ids.length });
  expect((await suite.drain()).outcomes).to.deep.equal({ unchanged: ids.length });
  expect((await sync.subjectStatus('InvoiceSync', ids[ids.length - 1])).published?.version).to.equal(2);
}
