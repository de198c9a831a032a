import { expect } from 'chai';
import type { MachineDefinition } from '../../lib/metadata/machine-definition';
import { hookError } from '../../lib/pipeline/call-hook';

describe('a hook\'s error', () => {
  const machine = (relations?: string[]) => ({
    className: 'InvoiceToErp', relations, hooks: { build: 'build', publish: 'publish' }, subjectInfo: { name: 'Invoice' },
  }) as unknown as MachineDefinition;
  const where = { entity: 'Invoice', id: '1' };
  const unloaded = (() => { try { (undefined as unknown as { name: string }).name; } catch (e) { return e; } })();

  it('names the class, method, entity and id', () => {
    expect(hookError(machine(), 'publish', where, new Error('partner API answered 500')).message)
      .to.equal('InvoiceToErp.publish threw for Invoice 1: partner API answered 500');
  });

  it('from a build that read what was not loaded, says how to load a relation with the subject', () => {
    // Before, only "Cannot read properties of undefined (reading 'name')" (a trial).
    expect(hookError(machine(), 'build', where, unloaded).message).to.equal('InvoiceToErp.build threw for Invoice 1: ' +
      "Cannot read properties of undefined (reading 'name'). If it reads a relation of Invoice, name it in " +
      '@SyncMachine({ relations }) (it loads none now), so that runs load it with the subject');
    expect(hookError(machine(['client']), 'build', where, unloaded).message).to.include('(it loads client now)');
    expect(hookError(machine(), 'publish', where, unloaded).message).to.not.include('relations');
  });
});
