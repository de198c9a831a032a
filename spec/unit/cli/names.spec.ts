import { expect } from 'chai';
import { camelCase, compactStamp, kebabCase, pascalCase } from '../../../lib/cli/generate/names';

/** The generator names classes, variables and files from what the user typed: each form, from each spelling. */
describe('generator names (unit)', () => {
  it('pascalCase joins words split by -, _ or spaces and upper-cases each first letter, keeping the rest', () => {
    expect(pascalCase('line_item')).to.equal('LineItem');
    expect(pascalCase('line-item')).to.equal('LineItem');
    expect(pascalCase('line item')).to.equal('LineItem');
    expect(pascalCase('__line--item  ')).to.equal('LineItem');
    expect(pascalCase('orderToApi')).to.equal('OrderToApi');
    expect(pascalCase('OrderToApiSync')).to.equal('OrderToApiSync');
  });

  it('camelCase is pascalCase with a lower-case first letter', () => {
    expect(camelCase('line_item')).to.equal('lineItem');
    expect(camelCase('LineItem')).to.equal('lineItem');
    expect(camelCase('order')).to.equal('order');
  });

  it('kebabCase splits at case changes, keeping acronyms together', () => {
    expect(kebabCase('OrderToApiSync')).to.equal('order-to-api-sync');
    expect(kebabCase('line_item')).to.equal('line-item');
    expect(kebabCase('OrderToAPISync')).to.equal('order-to-api-sync');
    expect(kebabCase('Order2Api')).to.equal('order2-api');
    expect(kebabCase('order')).to.equal('order');
  });

  it("compactStamp is MikroORM's migration stamp: UTC, digits only, to the second", () => {
    expect(compactStamp(new Date('2025-11-28T10:42:01.999Z'))).to.equal('20251128104201');
    expect(compactStamp(new Date(Date.UTC(2026, 0, 2, 3, 4, 5)))).to.equal('20260102030405');
  });
});
