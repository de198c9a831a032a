import { ConfigurationError } from '../errors';
import type { MachineDefinition } from '../metadata/machine-definition';
import type { CapturedChange, EntityClass } from '../ports';
import { checkedIds } from './subject-ids';

/**
 * The changes `notifyChanged(entity, ids, changedKeys)` stands for, checked first: an entity no machine listens
 * to, a key the entity does not have, or keys no listener watches would make the call do nothing, so each is an
 * error that says what is watched. Without `changedKeys` every field counts as changed (the "all keys" form).
 */
export function notifiedChanges(
  machines: MachineDefinition[], given: EntityClass | string, ids: string | number | bigint | Array<string | number | bigint>, changedKeys?: string[],
): CapturedChange[] {
  const name = typeof given === 'string' ? given : given?.name ?? String(given);
  // By class, or by the entity's name as the ORM knows it ('Product'): either names the listened class. A class
  // names the listened classes it extends too, as capture takes a single-table child's write (a trial's
  // notifyChanged(VipCustomer) was refused, where a flush of a VipCustomer reached the Customer listeners), and those
  // that extend it: a row changed by raw SQL and notified as a Customer may be a VipCustomer (another trial's machine
  // on VipCustomer stayed stale); one that is not is gone to such a machine.
  // And, through the table they share, its sibling classes: a row whose kind changed by raw SQL (biz to vip) was
  // notified as its old class, and the machine on the new one stayed stale (a trial).
  const chain = typeof given === 'function' ? ancestry(given) : [];
  const related = (entity: EntityClass) => chain.includes(entity) || (chain.length > 0 && ancestry(entity).includes(given));
  const named = (entity: EntityClass, info: { name: string }) => related(entity) || (typeof given === 'string' && info.name === given);
  const all = machines.flatMap((machine) => machine.listeners.map((listener) => ({ machine, listener })));
  const tables = new Set(all.filter(({ listener: l }) => named(l.entity, l.info) && l.info.table).map(({ listener: l }) => l.info.table));
  const byEntity = new Map<EntityClass, Listening[]>();
  for (const { machine, listener } of all) {
    if (!named(listener.entity, listener.info) && !(listener.info.table && tables.has(listener.info.table))) continue;
    byEntity.set(listener.entity, [...byEntity.get(listener.entity) ?? [], { machine, listener }]);
  }
  if (byEntity.size === 0) {
    throw new ConfigurationError(
      `notifyChanged(${name}): no machine listens to it; add @ListenTo(${name}) to a machine, or drop the call.`);
  }
  const changes: CapturedChange[] = [];
  let refused: unknown;
  let taken = false;
  // The class itself first, then what it extends, then what extends it: the first refusal said is the nearest.
  const rank = (entity: EntityClass) => (chain.includes(entity) ? chain.indexOf(entity) : chain.length);
  for (const [entity, listening] of [...byEntity].sort(([a], [b]) => rank(a) - rank(b))) {
    try {
      changes.push(...changesOf(entity, listening, name, ids, changedKeys));
      taken = true;
    } catch (error) {
      refused ??= error; // the class' own listeners' refusal first; a parent's listeners may still take the keys
    }
  }
  if (!taken) throw refused;
  return changes;
}

type Listening = { machine: MachineDefinition; listener: MachineDefinition['listeners'][number] };

/** The class and each class it extends, nearest first. */
function ancestry(cls: EntityClass): unknown[] {
  const chain: unknown[] = [];
  for (let c: unknown = cls; typeof c === 'function' && c !== Function.prototype; c = Object.getPrototypeOf(c)) chain.push(c);
  return chain;
}

function changesOf(
  entity: EntityClass, listening: Listening[], name: string, ids: string | number | bigint | Array<string | number | bigint>,
  changedKeys: string[] | undefined,
): CapturedChange[] {
  const { info } = listening[0].listener;
  const list = checkedIds(Array.isArray(ids) ? ids : [ids], info, `notifyChanged(${name}, ids)`);
  if (list.length === 0) return [];
  const keys = changedKeys === undefined ? info.properties : checkKeys(name, changedKeys, info.properties, listening);
  return list.map((id) => ({ entity, id, op: 'update', changedKeys: keys }));
}

function checkKeys(name: string, changedKeys: unknown, properties: string[], listening: Listening[]): string[] {
  const allForm = `omit changedKeys to treat every field as changed: notifyChanged(${name}, ids)`;
  if (!Array.isArray(changedKeys) || changedKeys.length === 0 || changedKeys.some((k) => typeof k !== 'string')) {
    throw new ConfigurationError(`notifyChanged(${name}, ids, changedKeys): changedKeys must be a non-empty array of ` +
      `property names (got ${JSON.stringify(changedKeys)}); ${allForm}.`);
  }
  const unknown = changedKeys.filter((k) => !properties.includes(k));
  if (unknown.length > 0) {
    throw new ConfigurationError(`notifyChanged(${name}, ids, [${changedKeys.join(', ')}]): ${name} has no ` +
      `${unknown.length === 1 ? 'property' : 'properties'} ${unknown.join(', ')}; its properties are ${properties.join(', ')}. ` +
      `Name properties, not columns, or ${allForm}.`);
  }
  const watches = (fields: string[] | undefined) => fields === undefined || changedKeys.some((k) => fields.includes(k));
  if (!listening.some(({ listener }) => watches(listener.fields))) {
    const watched = listening.map(({ machine, listener }) => `${machine.className} watches ${listener.fields!.join(', ')}`);
    throw new ConfigurationError(`notifyChanged(${name}, ids, [${changedKeys.join(', ')}]) would do nothing: no machine ` +
      `watches ${changedKeys.length === 1 ? 'that field' : 'those fields'} of ${name} (${watched.join('; ')}). ` +
      `Pass a watched field, add it to @ListenTo(${name}, { fields }), or ${allForm}.`);
  }
  return changedKeys;
}
