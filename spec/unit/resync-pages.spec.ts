import { expect } from 'chai';
import type { MachineDefinition } from '../../lib/metadata/machine-definition';
import type { OrmAdapter } from '../../lib/ports';
import { resyncSubjects } from '../../lib/runtime/resync';

/** resync records pages while it reads the next ones: order of progress, and what a failing page does. */
describe('resync pages', () => {
  // With `ids`, resync reads nothing from the ORM: neither is touched.
  const adapter = {} as OrmAdapter;
  const machine = {
    className: 'OrderSync', subjectInfo: { name: 'Order', primaryKey: 'id', keyKind: 'integer', properties: ['id'] },
  } as MachineDefinition;
  const ids = Array.from({ length: 10 }, (_, i) => i + 1);

  it('records every page, several at once, and reports progress in order up to the total', async () => {
    const sent: string[][] = [];
    let inFlight = 0;
    let most = 0;
    const progress: Array<[number, number | undefined]> = [];
    const result = await resyncSubjects(adapter, machine, { ids, batchSize: 2, onProgress: (n, total) => progress.push([n, total]) },
      async (page) => {
        inFlight += 1;
        most = Math.max(most, inFlight);
        await new Promise((r) => setTimeout(r, 5));
        sent.push(page);
        inFlight -= 1;
      });
    expect(result).to.deep.equal({ enqueued: 10 });
    expect(sent.flat()).to.have.members(ids.map(String));
    expect(most, 'pages recorded at once').to.be.within(2, 4);
    expect(progress).to.deep.equal([[2, 10], [4, 10], [6, 10], [8, 10], [10, 10]]);
  });

  it('records the first page alone: runs woken as its mark goes out take before the next pages are marked', async () => {
    const events: string[] = [];
    await resyncSubjects(adapter, machine, { ids, batchSize: 2 }, async (page) => {
      events.push(`send ${page[0]}`);
      await new Promise((r) => setTimeout(r, 5));
      events.push(`done ${page[0]}`);
    });
    expect(events.slice(0, 4)).to.deep.equal(['send 1', 'done 1', 'send 3', 'send 5']);
  });

  it('rejects with the first failure once the pages in flight settled, and sends no page after it', async () => {
    const sent: string[] = [];
    let settledAfterFailure = 0;
    let failed = false;
    const error = await resyncSubjects(adapter, machine, { ids, batchSize: 1 }, async (page) => {
      if (page[0] === '3') {
        failed = true;
        throw new Error('Redis went away');
      }
      sent.push(page[0]);
      await new Promise((r) => setTimeout(r, 10));
      if (failed) settledAfterFailure += 1;
    }).catch((e: Error) => e);
    expect(error).to.be.instanceOf(Error).with.property('message', 'Redis went away');
    // Page 1 went alone, then 2-4 were in flight together; 3 failed, 4 settled before the rejection, nothing later went out.
    expect(sent).to.deep.equal(['1', '2', '4']);
    expect(settledAfterFailure).to.be.at.least(1);
  });

  it('counts the rows only when progress asks for the total', async () => {
    const counted: string[] = [];
    const pages = [['1', '2'], ['3'], []];
    const paging = {
      countRows: async () => { counted.push('count'); return 3; },
      pageIds: async () => pages.shift() ?? [],
      payloads: { pageSubjectIds: async () => [] }, // nothing stored: no subject whose row is gone
    } as unknown as OrmAdapter;
    const subject = { subject: class Order {} } as unknown as MachineDefinition;
    const sent: string[][] = [];
    expect(await resyncSubjects(paging, subject, { batchSize: 2 }, async (page) => { sent.push(page); })).to.deep.equal({ enqueued: 3 });
    expect(counted, 'no COUNT without onProgress').to.deep.equal([]);
    pages.push(['1', '2'], ['3'], []);
    const progress: Array<[number, number | undefined]> = [];
    await resyncSubjects(paging, subject, { batchSize: 2, onProgress: (n, total) => progress.push([n, total]) }, async () => undefined);
    expect(counted).to.deep.equal(['count']);
    expect(progress).to.deep.equal([[2, 3], [3, 3]]);
    expect(sent).to.deep.equal([['1', '2'], ['3']]);
  });

  it('keeps a total through the stored subjects whose rows are gone, which come after the count', async () => {
    const pages = [['1', '2'], ['3'], []];
    const stored = [['1', '2', '3', '9'], []];
    const paging = {
      countRows: async () => 3,
      pageIds: async () => pages.shift() ?? [],
      payloads: { pageSubjectIds: async () => stored.shift() ?? [] },
    } as unknown as OrmAdapter;
    const subject = { subject: class Order {}, name: 'OrderSync' } as unknown as MachineDefinition;
    const progress: Array<[number, number | undefined]> = [];
    const sent: string[][] = [];
    expect(await resyncSubjects(paging, subject, { batchSize: 2, onProgress: (n, total) => progress.push([n, total]) },
      async (page) => { sent.push(page); })).to.deep.equal({ enqueued: 4 });
    expect(sent).to.deep.equal([['1', '2'], ['3'], ['9']]);
    expect(progress).to.deep.equal([[2, 3], [3, 3], [4, 4]]);
  });

  it('refuses ids an integer key cannot hold, a misspelled option and a batchSize of 0, before recording any page', async () => {
    const sent: string[][] = [];
    const record = async (page: string[]) => { sent.push(page); };
    const refusal = (options: object) => resyncSubjects(adapter, machine, options, record).then(() => 'accepted', (e: Error) => e.message);
    expect(await refusal({ ids: ['1', 'x', 2, '3.5'] })).to.equal('resync(OrderSync, { ids }): Order.id is an integer key, so ids ' +
      'must be whole numbers; "x", "3.5" are not. Nothing was done: fix them and call again.');
    expect(await refusal({ ids: [{ id: 1, status: 'new' }] })).to.equal('resync(OrderSync, { ids }): ids must be strings, ' +
      'numbers or BigInts, the values of Order.id, not entities; {"id":1,"status":"new"} is not one. Nothing was done: fix it and call again.');
    expect(await refusal({ ids: '1,2' })).to.equal('resync(OrderSync, { ids }): ids must be an array of Order ids, e.g. [1, 2, 3]; got "1,2".');
    // `id` for `ids` would otherwise request every subject.
    expect(await refusal({ id: [5] })).to.equal('resync(OrderSync, options): unknown option "id"; did you mean "ids"? ' +
      'It takes `ids`, `where`, `force`, `batchSize`, `onProgress`.');
    expect(await refusal({ ids, batchSize: 0 })).to.equal('resync(OrderSync): batchSize must be a whole number of at least 1, got 0.');
    expect(sent).to.deep.equal([]);
    // A string key takes any string.
    const named = { ...machine, subjectInfo: { ...machine.subjectInfo, keyKind: 'text' } } as MachineDefinition;
    expect(await resyncSubjects(adapter, named, { ids: ['a-1', 'x'] }, record)).to.deep.equal({ enqueued: 2 });
  });

  it('refuses ids together with where', async () => {
    const error = await resyncSubjects(adapter, machine, { ids, where: { status: 'x' } }, async () => undefined).catch((e: Error) => e);
    expect(error).to.have.property('message', 'resync: pass `ids` or `where`, not both.');
  });
});
