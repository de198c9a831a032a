import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KeySpace, type Step } from '../../../lib/redis/keys';
import { sayWrongTypes } from '../../../lib/redis/wrong-type';

/*
 * The type KeySpace says each key holds (which names a key of the wrong type: lib/redis/wrong-type.ts) and the type
 * the Lua scripts' headers give each KEYS[i] must agree: a header that says `hash` of a key kept as a set would
 * send whoever follows the message to delete the wrong thing.
 */
describe('key types: KeySpace and the Lua scripts\' headers agree', () => {
  const keys = new KeySpace('p');
  const dir = join(__dirname, '..', '..', '..', 'lib', 'redis', 'scripts');
  const step: Step = 'ensure-publication';
  /** A key of the kind a header names, as KeySpace builds it. */
  function keyFor(name: string): string {
    const own: Record<string, string> = {
      locks: keys.locks('M'), paused: keys.paused('M'), rate: keys.rate('M'), publishing: keys.publishing('M'),
      stats: keys.stats('M'), recent: keys.recentPublishes('M'), workers: keys.workers('M'),
      dataLost: keys.dataLost('M'), unreadable: keys.unreadable('M'),
    };
    const stepKeys = keys.step('M', step) as unknown as Record<string, string>;
    const key = own[name] ?? stepKeys[name] ?? (name === 'earlierDelayed' ? undefined : keys.queueKey('M', step, name as never));
    if (key === undefined) throw new Error(`no key for ${name}`);
    return key;
  }

  for (const file of readdirSync(dir).filter((f) => /-\d+\.lua$/.test(f))) {
    it(`${file}: every KEYS[i] is documented with the type KeySpace gives it`, () => {
      const header = readFileSync(join(dir, file), 'utf8').split(']]')[0];
      const documented: Array<[name: string, type: string | undefined]> = [];
      for (const match of header.matchAll(/^KEYS\[(\d+)(?:\.\.(\d+))?\]\s+(.*(?:\n {10,}.*)*)/gm)) {
        const [, , last, text] = match;
        if (last === undefined) {
          const [, name, type] = /^(\w+)\s+(\w+)/.exec(text)!;
          documented.push([name, type]);
        } else {
          // A range: "id string, jobs hash, ..., earlierDelayed (a pub/sub channel, not a key), active list; then `starting` set".
          for (const [, name, type] of text.matchAll(/`?(\w+)`? (string|list|set|zset|hash|\(a pub\/sub channel)/g)) {
            documented.push([name, type.startsWith('(') ? undefined : type]);
          }
        }
      }
      expect(documented.length, 'as many documented keys as the file name says').to.equal(Number(/-(\d+)\.lua$/.exec(file)![1]));
      for (const [name, type] of documented) {
        if (type === undefined) continue; // a channel
        expect(keys.keyType(keyFor(name)), `${file}: ${name}`).to.equal(type);
      }
    });
  }

  it('every key of a machine has a type, and a name not of the prefix none', () => {
    for (const key of keys.machineKeys('M')) {
      if (key.endsWith(':earlierDelayed')) expect(keys.keyType(key)).to.equal(undefined);
      else expect(keys.keyType(key), key).to.be.a('string');
    }
    expect(keys.keyType('other:M:ensure-publication:pending')).to.equal(undefined);
    expect(keys.keyType(keys.runtimeMarker('r1'))).to.equal('string');
  });

  it('says each key of the wrong type, its type, the one expected and the command that deletes them', () => {
    expect(sayWrongTypes([{ key: "p:M:it's", found: 'string', expected: 'zset' }, { key: 'p:M:locks', found: 'list', expected: 'hash' }],
      'resync M')).to.equal("p:M:it's is a string, where sync-machine keeps a zset; p:M:locks is a list, where sync-machine " +
      "keeps a hash: delete them (redis-cli DEL 'p:M:it'\\''s' 'p:M:locks'), then resync M");
  });
});
