import { expect } from 'chai';
import { definitionDigest } from '../../lib/metadata/definition-digest';
import type { MachineDefinition } from '../../lib/metadata/machine-definition';

/** A definition of the parts the digest reads, with `instance` the machine object; `fields` null: every field. */
function definition(instance: object, fields: string[] | null = ['firstName', 'lastName'], relations?: string[]) {
  const info = (name: string) => ({ name }) as MachineDefinition['subjectInfo'];
  return {
    subjectInfo: info('Order'), relations, instance: instance as MachineDefinition['instance'],
    hooks: { build: 'build', publish: 'publish' },
    listeners: [{ entity: class {}, info: info('Customer'), fields: fields ?? undefined, mapper: 'ordersOf' }, { entity: class {}, info: info('Order') }],
  };
}

describe('definitionDigest', () => {
  class V1 {
    ordersOf(c: { orderIds: number[] }) { return c.orderIds; }
    build(o: { id: number }) { return { id: String(o.id) }; }
    publish() { return undefined; }
  }
  class V2 {
    ordersOf(c: { orderIds: number[] }) { return c.orderIds; }
    build(o: { id: number }) { return { id: String(o.id), warehouse_code: 'W1' }; }
    publish() { return 'another partner'; }
  }
  class V1Again {
    ordersOf(c: { orderIds: number[] }) { return c.orderIds; }
    build(o: { id: number }) { return { id: String(o.id) }; }
    publish() { return 'only @Publish changed'; }
  }

  it('is the same for the same hooks, fields and relations, whatever @Publish does and whatever order the fields are in', () => {
    expect(definitionDigest(definition(new V1()))).to.match(/^[0-9a-f]{12}$/);
    expect(definitionDigest(definition(new V1Again()))).to.equal(definitionDigest(definition(new V1())));
    expect(definitionDigest(definition(new V1(), ['lastName', 'firstName']))).to.equal(definitionDigest(definition(new V1())));
  });

  it('differs when @Build, the listened fields or relations differ', () => {
    const v1 = definitionDigest(definition(new V1()));
    expect(definitionDigest(definition(new V2())), '@Build').to.not.equal(v1);
    expect(definitionDigest(definition(new V1(), ['firstName', 'lastName', 'email'])), 'fields').to.not.equal(v1);
    expect(definitionDigest(definition(new V1(), null)), 'every field').to.not.equal(v1);
    expect(definitionDigest(definition(new V1(), ['firstName', 'lastName'], ['customer'])), 'relations').to.not.equal(v1);
  });
});
