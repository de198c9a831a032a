import { expect } from 'chai';
import { canonicalJson, digestOf, NotJsonError } from '../../../lib/store/canonical-json';

/** The payload store compares digests of this text: equal payloads must give equal text, whatever their key order. */
describe('canonicalJson (unit)', () => {
  it('sorts object keys at every depth, so key order does not change the text or the digest', () => {
    const a = { b: 1, a: { d: [{ z: 1, y: 2 }], c: 'x' } };
    const b = { a: { c: 'x', d: [{ y: 2, z: 1 }] }, b: 1 };
    expect(canonicalJson(a)).to.equal('{"a":{"c":"x","d":[{"y":2,"z":1}]},"b":1}');
    expect(canonicalJson(b)).to.equal(canonicalJson(a));
    expect(digestOf(canonicalJson(b))).to.equal(digestOf(canonicalJson(a)));
  });

  it('sorts by code unit, as Array.prototype.sort does: upper case before lower case, "10" before "9"', () => {
    expect(canonicalJson({ b: 1, B: 2, a: 3, 9: 'n', 10: 'm' })).to.equal('{"10":"m","9":"n","B":2,"a":3,"b":1}');
  });

  it('keeps array order: arrays are sequences, not sets', () => {
    expect(canonicalJson([3, 1, 2])).to.equal('[3,1,2]');
    expect(canonicalJson([3, 1, 2])).not.to.equal(canonicalJson([1, 2, 3]));
  });

  it('writes scalars as JSON.stringify does, and leaves out undefined properties as it does', () => {
    expect(canonicalJson({ s: 'a"b\n', n: -1.5, t: true, f: false, z: null, u: undefined }))
      .to.equal('{"f":false,"n":-1.5,"s":"a\\"b\\n","t":true,"z":null}');
    expect(canonicalJson('é')).to.equal(JSON.stringify('é'));
  });

  it('honours toJSON: a Date becomes its ISO string, at any depth', () => {
    const at = new Date('2026-01-02T03:04:05.678Z');
    expect(canonicalJson({ at, nested: [{ at }] })).to.equal('{"at":"2026-01-02T03:04:05.678Z","nested":[{"at":"2026-01-02T03:04:05.678Z"}]}');
    expect(canonicalJson({ custom: { toJSON: () => ({ y: 1, x: 2 }) } })).to.equal('{"custom":{"x":2,"y":1}}');
  });

  it('refuses values that JSON would drop or null, naming the path', () => {
    const refused: Array<[unknown, RegExp]> = [
      [{ a: { b: 10n } }, /^the BigInt 10n at \$\.a\.b has no JSON form$/],
      [{ a: [1, Number.NaN] }, /^the number NaN at \$\.a\[1\]/],
      [{ a: Infinity }, /^the number Infinity at \$\.a/],
      [{ f: () => 1 }, /^a function at \$\.f/],
      [{ s: Symbol('x') }, /^a symbol at \$\.s/],
      [[undefined], /^an undefined value at \$\[0\]/],
      // JSON.stringify gives {} for these, and a Map of lines was published so (an outside trial).
      [{ m: new Map([['a', 1]]) }, /^a Map at \$\.m has no JSON form$/],
      [{ s: new Set([1]) }, /^a Set at \$\.s/],
      [{ p: Promise.resolve(1) }, /^a Promise at \$\.p/],
      [{ e: new Error('x') }, /^an Error at \$\.e/],
    ];
    for (const [value, message] of refused) {
      expect(() => canonicalJson(value), String(message)).to.throw(NotJsonError, message);
    }
    const fixOf = (value: unknown) => { try { canonicalJson(value); } catch (error) { return (error as NotJsonError).fix; } };
    expect(fixOf({ m: new Map() })).to.equal('convert it with Object.fromEntries(map) or [...map]');
    expect(fixOf({ p: Promise.resolve() })).to.equal('await it in @Build');
    expect(fixOf({ b: 1n })).to.equal('convert it to a string (or a number, if it fits)');
  });

  it('refuses a cycle, but not the same object twice side by side', () => {
    const shared = { x: 1 };
    expect(canonicalJson({ a: shared, b: shared })).to.equal('{"a":{"x":1},"b":{"x":1}}');
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = { back: cyclic };
    expect(() => canonicalJson(cyclic)).to.throw(NotJsonError, /a circular reference at \$\.self\.back/);
  });

  it('digestOf is the sha256 of the text, in hex', () => {
    expect(digestOf('{}')).to.equal('44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
  });
});
