import { expect } from 'chai';
import type { MachineDefinition } from '../../lib/metadata/machine-definition';
import { hookError } from '../../lib/pipeline/call-hook';

/** A message with the place of the throw taken out, and that place: a frame of this file. */
function placed(message: string): { message: string; at?: string } {
  const at = / \(at ([^)]+)\)/.exec(message)?.[1];
  return { message: message.replace(/ \(at [^)]+\)/, ''), at: at?.replace(/:\d+:\d+$/, '') };
}

describe('a hook\'s error', () => {
  const machine = (relations?: string[]) => ({
    className: 'InvoiceToErp', relations, hooks: { build: 'build', publish: 'publish' }, subjectInfo: { name: 'Invoice' },
    listeners: [{ mapper: 'invoicesOf' }],
  }) as unknown as MachineDefinition;
  const where = { entity: 'Invoice', id: '1' };
  const unloaded = (() => { try { (undefined as unknown as { name: string }).name; } catch (e) { return e; } })();

  it('names the class, method, entity and id', () => {
    expect(hookError(machine(), 'publish', where, new Error('partner API answered 500')).message)
      .to.equal('InvoiceToErp.publish threw for Invoice 1: partner API answered 500');
  });

  it('from a build that read what was not loaded, says how to load a relation with the subject', () => {
    // Before, only "Cannot read properties of undefined (reading 'name')" (a trial).
    expect(placed(hookError(machine(), 'build', where, unloaded).message)).to.deep.equal({
      message: "InvoiceToErp.build threw for Invoice 1: Cannot read properties of undefined (reading 'name'). If it reads a " +
        'relation of Invoice, name it in @SyncMachine({ relations }) (it loads none now), so that runs load it with the subject',
      at: __filename,
    });
    expect(hookError(machine(['client']), 'build', where, unloaded).message).to.include('(it loads client now)');
    expect(hookError(machine(), 'publish', where, unloaded).message).to.not.include('relations');
    // A null relation may be loaded and hidden: a trial's eager customer, soft-deleted, read as "it loads none now".
    const onNull = (() => { try { (null as unknown as { name: string }).name; } catch (e) { return e; } })();
    expect(hookError(machine(), 'build', where, onNull).message).to.satisfy((m: string) => m.endsWith('(it loads none now), ' +
      'so that runs load it with the subject; a relation that is loaded is null where its row is soft-deleted or filtered ' +
      'out: guard it, or publish nothing meanwhile (@CheckPublishable)'));
    expect(hookError(machine(), 'build', where, unloaded).message).to.not.include('soft-deleted');
  });

  it('from a build, names the relations the row did not load, and gives no relation hint where it loaded them all', () => {
    const known = (unloaded: string[]) => ({ ...machine(), subjectInfo: { name: 'Invoice', unloaded: () => unloaded } }) as unknown as MachineDefinition;
    const row = {};
    expect(hookError(known(['client']), 'build', where, unloaded, row).message).to.include('. If it reads a relation of Invoice ' +
      '(Invoice.client is not loaded in this run), name it in @SyncMachine({ relations }) (it loads none now)');
    // Every relation loaded (an eager one): the bug is elsewhere (a trial's read of an undefined local was blamed on one).
    expect(hookError(known([]), 'build', where, unloaded, row).message).to.not.include('relation');
    const onNull = (() => { try { (null as unknown as { name: string }).name; } catch (e) { return e; } })();
    expect(hookError(known([]), 'build', where, onNull, row).message).to.include('. A relation of Invoice that is loaded is ' +
      'null where the row has none, or where its row is soft-deleted or filtered out: guard it, or publish nothing meanwhile (@CheckPublishable)');
  });

  it('of the language (a TypeError), names where in the app it was thrown; a mapper\'s says what its row holds', () => {
    const mapped = hookError(machine(), 'invoicesOf', { entity: 'Client', id: '7' }, unloaded).message;
    // Before, the message alone: a trial's mapper read a collection its row never has, and no file or line was named.
    expect(placed(mapped)).to.deep.equal({
      message: "InvoiceToErp.invoicesOf threw for Client 7: Cannot read properties of undefined (reading 'name'). A mapper " +
        'gets the changed row loaded without its relations: a collection is not loaded. Load it in the mapper (MikroORM: ' +
        'await row.items.loadItems()), read ids through a @RelationId property (TypeORM, where the collection is ' +
        'undefined and a to-one relation { id }), or query for them',
      at: __filename,
    });
    // An error thrown on purpose says what it means: no place added.
    expect(hookError(machine(), 'publish', where, new Error('partner API answered 500')).message).to.not.include('(at ');
  });

  it('thrown by a library on the hook\'s behalf (MikroORM\'s "not initialized"), names the hook\'s line and the fix', () => {
    const uninitialized = new Error('Collection<Tag> of entity Invoice[1] not initialized');
    uninitialized.stack = `Error: ${uninitialized.message}\n` +
      '    at Collection.getItems (/app/node_modules/@mikro-orm/core/entity/Collection.js:91:13)\n' +
      '    at InvoiceToErp.build (/app/src/invoice-to-erp.ts:34:29)\n    at node:internal/process/task_queues:95:5';
    // Before, the message alone, with no place and no fix (a trial).
    expect(hookError(machine(['client']), 'build', where, uninitialized).message).to.equal('InvoiceToErp.build threw for ' +
      'Invoice 1: Collection<Tag> of entity Invoice[1] not initialized (at /app/src/invoice-to-erp.ts:34:29). If it reads a ' +
      'relation of Invoice, name it in @SyncMachine({ relations }) (it loads client now), so that runs load it with the subject');
    expect(hookError(machine(), 'invoicesOf', { entity: 'Client', id: '7' }, uninitialized).message)
      .to.include('Load it in the mapper (MikroORM: await row.items.loadItems())');
  });
});
