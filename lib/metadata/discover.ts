import { inspect } from 'node:util';
import 'reflect-metadata';
import {
  HOOKS_KEY, HookRecord, HookRole, LISTEN_TO_KEY, ListenToRecord, MACHINE_KEY, MachineOptions, RelationSpec,
  SUBJECT_IDS_FROM_KEY, SubjectIdsFromRecord,
} from '../../decorators/metadata-keys';
import { ConfigurationError, shownValue } from '../errors';
import { refuseUnknownOptions } from '../known-options';
import type { EntityClass, EntityInfo, OrmAdapter } from '../ports';
import type { Hooks, Listener, MachineDefinition } from './machine-definition';

type MachineClass = new (...args: never[]) => object;

const MACHINE_OPTIONS: ReadonlyArray<keyof MachineOptions> = ['subject', 'name', 'relations', 'batchSize', 'debounceMs', 'store', 'rateLimit'];

/** Subjects per run when @SyncMachine sets no batchSize (chosen by `npm run bench`, see BENCHMARKS.md). */
export const DEFAULT_BATCH_SIZE = 500;

const HOOK_HINTS: Record<HookRole, string> = {
  build: 'add one method decorated with @Build() that returns the payload for a subject',
  publish: 'add one method decorated with @Publish() that sends (subject, payload) to the API',
  checkPublishable: 'keep one @CheckPublishable() method',
  afterPublish: 'keep one @AfterPublish() method',
  unpublish: 'keep one @Unpublish() method',
};

/** Reads what the decorators recorded on each machine and checks it against the ORM, once, at start. */
export function discoverMachines(machines: unknown[], adapter: OrmAdapter): MachineDefinition[] {
  if (!Array.isArray(machines) || machines.length === 0) {
    throw new ConfigurationError(
      'SyncMachines.start needs `machines`: pass instances (or zero-argument classes) decorated with @SyncMachine.');
  }
  const missingPayload = adapter.payloadEntityMissing();
  if (missingPayload) throw new ConfigurationError(missingPayload);

  const definitions = machines.map((machine) => discoverMachine(machine, adapter));
  const seen = new Map<string, string>();
  for (const def of definitions) {
    const other = seen.get(def.name);
    if (other === def.className) {
      // One class twice: a unique name would make it two machines publishing the same subjects.
      throw new ConfigurationError(`${def.className} is in SyncMachines.start({ machines }) twice (two instances of one ` +
        'class): pass one instance of each machine class. For machines of one code (one per tenant, say), make a class ' +
        'per machine with its own @SyncMachine({ name }) (a function that returns a decorated class), or, with a ' +
        'database per tenant, start a runtime per database with its own `prefix` (README, "Several databases").');
    }
    if (other !== undefined) {
      throw new ConfigurationError(
        `${def.className} and ${other} are both named "${def.name}": give one a unique name with @SyncMachine({ name }).`);
    }
    seen.set(def.name, def.className);
  }
  return definitions;
}

function instantiate(machine: unknown): { cls: MachineClass; instance: object } {
  if (typeof machine === 'function') {
    const cls = machine as MachineClass;
    if (cls.length > 0) {
      throw new ConfigurationError(
        `${cls.name} takes constructor arguments: pass an instance (machines: [new ${cls.name}(...)]) instead of the class.`);
    }
    return { cls, instance: new (cls as unknown as new () => object)() };
  }
  if (machine && typeof machine === 'object') {
    return { cls: (machine as object).constructor as MachineClass, instance: machine as object };
  }
  throw new ConfigurationError(
    `machines contains ${String(machine)}: pass instances or classes decorated with @SyncMachine.`);
}

function discoverMachine(machine: unknown, adapter: OrmAdapter): MachineDefinition {
  const { cls, instance } = instantiate(machine);
  const className = cls.name;
  const options: MachineOptions | undefined = Reflect.getMetadata(MACHINE_KEY, cls);
  if (!options) {
    throw new ConfigurationError(
      `${className} is not a sync machine: decorate it with @SyncMachine({ subject: YourEntity }).`);
  }
  refuseUnknownOptions(options, MACHINE_OPTIONS, `${className}: @SyncMachine`);
  if (typeof options.subject !== 'function') {
    // A name ('Order') was given where the class goes: say that, not that nothing was given.
    const given = options.subject === undefined ? '' : ` (got ${shownValue(options.subject)}; pass the class itself, imported, not its name)`;
    throw new ConfigurationError(
      `${className}: @SyncMachine needs \`subject\`, the entity class the API knows, e.g. @SyncMachine({ subject: Order })${given}.`);
  }
  const name = options.name ?? className;
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) {
    throw new ConfigurationError(
      `${className}: the machine name "${name}" may only use letters, digits, "_", "." and "-": set @SyncMachine({ name }).`);
  }
  const subjectInfo = describeOrFail(adapter, options.subject, className, `its subject`);
  const hooks = readHooks(cls, className, instance);
  const listeners = readListeners(cls, className, instance, options.subject, adapter);
  const relations = options.relations === undefined ? undefined : relationPaths(options.relations, className);
  for (const path of relations ?? []) {
    const problem = adapter.relationProblem(options.subject, path);
    if (problem) {
      throw new ConfigurationError(`${className}: @SyncMachine({ relations }) names "${path}", but ${problem}: ` +
        'fix the name, or drop it from `relations`.');
    }
  }
  // At most 100 s: every change waits it, and a machine with a mapper keeps 2 × debounceMs of covered runs in Redis.
  const debounceMs = count(options.debounceMs, 0, 0, MAX_DEBOUNCE_MS, 'debounceMs', className,
    'a migration that takes longer coalesces fully when run with the workers stopped (start them afterwards)');
  return {
    name, named: options.name !== undefined, className, subject: options.subject, subjectInfo, relations,
    batching: {
      // At most 1,000: a batch binds every id in one query, and its store 8 values per subject in one statement.
      batchSize: count(options.batchSize, DEFAULT_BATCH_SIZE, 1, 1_000, 'batchSize', className),
      debounceMs,
      // Long enough for a row changed before a subject's run to be mapped after it: it waits its debounce first.
      coveredMs: debounceMs > 0 && listeners.some((l) => l.mapper) ? 2 * debounceMs + 10_000 : 0,
    },
    store: storeMode(options.store, className), rateLimit: rateLimit(options.rateLimit, className),
    instance: instance as MachineDefinition['instance'], listeners, hooks,
  };
}

function storeMode(value: unknown, className: string): 'body' | 'digest' {
  if (value === undefined || value === 'body') return 'body';
  if (value === 'digest') return 'digest';
  throw new ConfigurationError(`${className}: @SyncMachine({ store }) is 'body' (keep the last payload) or 'digest' ` +
    `(keep only its digest), got ${JSON.stringify(value)}.`);
}

const MAX_RATE = 100_000;
const MAX_RATE_WINDOW_MS = 86_400_000;

function rateLimit(value: unknown, className: string): { max: number; perMs: number } | undefined {
  if (value === undefined) return undefined;
  const v = value as { max?: unknown; perMs?: unknown } | null;
  if (v && typeof v === 'object') refuseUnknownOptions(v, ['max', 'perMs'], `${className}: @SyncMachine({ rateLimit })`);
  // The window is a sorted set of the publishes in it: a window of years, or millions in one, would keep that many.
  if (!v || typeof v !== 'object' || !Number.isInteger(v.max) || (v.max as number) < 1 || (v.max as number) > MAX_RATE ||
      !Number.isInteger(v.perMs) || (v.perMs as number) < 1 || (v.perMs as number) > MAX_RATE_WINDOW_MS) {
    throw new ConfigurationError(`${className}: @SyncMachine({ rateLimit }) needs whole numbers, max from 1 to ` +
      `${MAX_RATE.toLocaleString('en-US')} and perMs from 1 to ${MAX_RATE_WINDOW_MS.toLocaleString('en-US')} (a day), e.g. ` +
      `{ max: 100, perMs: 1000 } for 100 publishes a second across all workers; got ${inspect(value, { breakLength: Infinity })}.`);
  }
  return { max: v.max as number, perMs: v.perMs as number };
}

const MAX_DEBOUNCE_MS = 100_000;

function count(
  value: unknown, fallback: number, min: number, max: number, option: string, className: string, beyond?: string,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const instead = beyond && typeof value === 'number' && value > max ? `: ${beyond}` : '';
    throw new ConfigurationError(`${className}: @SyncMachine({ ${option} }) must be a whole number from ${min} to ${max}, ` +
      `got ${shownValue(value)}${instead}.`);
  }
  return value;
}

/**
 * Relations as dotted paths, from either ORM's shape: `['customer.address']` (MikroORM populate) or
 * `{ customer: { address: true } }` (TypeORM FindOptionsRelations). Every prefix of a path is a path too.
 */
export function relationPaths(spec: RelationSpec, className: string): string[] {
  const paths = new Set<string>();
  const refuse = (what: string): never => {
    throw new ConfigurationError(`${className}: @SyncMachine({ relations }) ${what}: write relations as ` +
      "{ customer: true, lines: { product: true } } or as ['customer', 'lines.product'].");
  };
  const add = (path: string) => {
    const parts = path.split('.');
    if (parts.some((p) => p.length === 0)) refuse(`has the malformed path "${path}"`);
    parts.forEach((_, i) => paths.add(parts.slice(0, i + 1).join('.')));
  };
  const walk = (node: unknown, prefix: string): void => {
    if (Array.isArray(node)) {
      for (const path of node) {
        if (typeof path !== 'string') refuse(`lists ${JSON.stringify(path)}, which is not a relation path`);
        add(prefix + path);
      }
      return;
    }
    if (!node || typeof node !== 'object') {
      // Under a key, name it: `{ customer: 'region' }` was refused as the option being "region" (a trial).
      const at = prefix.slice(0, -1);
      refuse(at ? `has ${JSON.stringify(node)} at "${at}", where true, an object of its relations (${at}: { ` +
        `${typeof node === 'string' && node ? node : 'address'}: true }) or an array of them goes` : `is ${JSON.stringify(node)}`);
    }
    for (const [name, value] of Object.entries(node as Record<string, unknown>)) {
      if (value === false || value === undefined) continue;
      add(prefix + name);
      if (value !== true) walk(value, `${prefix}${name}.`);
    }
  };
  walk(spec, '');
  return [...paths];
}

function describeOrFail(adapter: OrmAdapter, entity: EntityClass, className: string, role: string) {
  let info: EntityInfo | undefined;
  try {
    info = adapter.describe(entity);
  } catch (error) {
    // The adapter says what is wrong with the entity; the machine and its role say where it was named.
    if (error instanceof ConfigurationError) throw new ConfigurationError(`${className}: ${role} ${error.message}`);
    throw error;
  }
  if (!info) {
    throw new ConfigurationError(
      `${className}: ${role} ${entity.name || String(entity)} is not an entity of this ${adapter.name} setup: ` +
      `add it to the ORM's entities (or fix the import).`);
  }
  return info;
}

function readHooks(cls: MachineClass, className: string, instance: object): Hooks {
  const records: HookRecord[] = Reflect.getMetadata(HOOKS_KEY, cls) ?? [];
  const byRole = new Map<HookRole, string>();
  for (const { role, method } of records) {
    const previous = byRole.get(role);
    if (previous !== undefined && previous !== method) {
      throw new ConfigurationError(
        `${className} has two @${decoratorName(role)} methods (${previous} and ${method}): keep one, and remove ` +
        `@${decoratorName(role)}() from the other (a machine has one of each hook).`);
    }
    if (typeof (instance as Record<string, unknown>)[method] !== 'function') {
      throw new ConfigurationError(`${className}.${method} is decorated with @${decoratorName(role)} but is not a method.`);
    }
    byRole.set(role, method);
  }
  for (const role of ['build', 'publish'] as const) {
    if (!byRole.has(role)) throw new ConfigurationError(`${className} has no @${decoratorName(role)} method: ${HOOK_HINTS[role]}.`);
  }
  return {
    build: byRole.get('build')!, publish: byRole.get('publish')!,
    checkPublishable: byRole.get('checkPublishable'), afterPublish: byRole.get('afterPublish'),
    unpublish: byRole.get('unpublish'),
  };
}

function decoratorName(role: HookRole): string {
  return role[0].toUpperCase() + role.slice(1);
}

function readListeners(
  cls: MachineClass, className: string, instance: object, subject: EntityClass, adapter: OrmAdapter,
): Listener[] {
  const listens: ListenToRecord[] = Reflect.getMetadata(LISTEN_TO_KEY, cls) ?? [];
  const mappers: SubjectIdsFromRecord[] = Reflect.getMetadata(SUBJECT_IDS_FROM_KEY, cls) ?? [];
  const subjectName = subject.name;

  for (const mapper of mappers) {
    if (typeof mapper.entity !== 'function') {
      throw new ConfigurationError(`${className}.${mapper.method}: @SubjectIdsFrom needs an entity class, e.g. @SubjectIdsFrom(Customer).`);
    }
    if (!listens.some((l) => l.entity === mapper.entity)) {
      throw new ConfigurationError(
        `${className}.${mapper.method} maps ${mapper.entity.name} to subjects, but ${className} does not listen to ` +
        `${mapper.entity.name}: add @ListenTo(${mapper.entity.name}) to the class.`);
    }
  }

  const seen = new Set<EntityClass>();
  return listens.map((listen) => {
    if (typeof listen.entity !== 'function') {
      throw new ConfigurationError(`${className}: @ListenTo needs an entity class, e.g. @ListenTo(Customer).`);
    }
    const entityName = listen.entity.name;
    if (seen.has(listen.entity)) {
      throw new ConfigurationError(`${className} has @ListenTo(${entityName}) twice: merge them into one.`);
    }
    seen.add(listen.entity);
    const given = listen.options ?? { fields: listen.fields };
    refuseUnknownOptions(given, ['fields'], `${className}: @ListenTo(${entityName}, options)`);
    const info = describeOrFail(adapter, listen.entity, className, '@ListenTo entity');
    if (given.fields !== undefined) checkFields(given.fields, info, className, entityName);

    const ownMappers = mappers.filter((m) => m.entity === listen.entity);
    if (ownMappers.length > 1) {
      throw new ConfigurationError(
        `${className} has two @SubjectIdsFrom(${entityName}) methods (${ownMappers.map((m) => m.method).join(', ')}): keep one.`);
    }
    const mapper = ownMappers[0]?.method;
    if (mapper !== undefined && typeof (instance as Record<string, unknown>)[mapper] !== 'function') {
      throw new ConfigurationError(`${className}.${mapper} is decorated with @SubjectIdsFrom but is not a method.`);
    }
    if (mapper === undefined && listen.entity !== subject) {
      // One class of the subject's single-table hierarchy: listening to the subject's own class is the simpler fix (a
      // trial was steered to write an identity mapper).
      const sameRows = info.table !== undefined && info.table === adapter.describe(subject)?.table;
      const instead = sameRows ? ` Or, as ${entityName} and ${subjectName} share one table, listen to the subject itself: ` +
        `@ListenTo(${subjectName}).` : '';
      throw new ConfigurationError(
        `${className} listens to ${entityName} but has no @SubjectIdsFrom(${entityName}) method: ` +
        `add one that, given a changed ${entityName}, returns the ${subjectName} ids it affects.${instead}`);
    }
    return { entity: listen.entity, info, fields: listen.fields, mapper };
  });
}

function checkFields(fields: unknown, info: EntityInfo, className: string, entityName: string): void {
  const properties = info.properties;
  if (!Array.isArray(fields) || fields.length === 0) {
    throw new ConfigurationError(
      `${className}: @ListenTo(${entityName}, { fields }) needs a non-empty array of property names, e.g. { fields: ['status'] }, ` +
      `got ${Array.isArray(fields) ? '[]' : shownValue(fields)}; omit \`fields\` to listen to every change.`);
  }
  for (const field of fields) {
    if (!properties.includes(field)) {
      throw new ConfigurationError(
        `${className}: @ListenTo(${entityName}) names the field "${field}", which ${entityName} does not have: ` +
        `use one of ${properties.filter((p) => !info.foreignSides?.[p]).join(', ')}.`);
    }
    const foreign = info.foreignSides?.[field];
    if (foreign) {
      const key = foreign.property ?? '<its relation to ' + entityName + '>';
      throw new ConfigurationError(
        `${className}: @ListenTo(${entityName}) names the field "${field}", which is kept in ${foreign.entity}'s rows ` +
        `(${foreign.entity}.${key}): moving rows in or out of it changes no ${entityName} row, so it would never fire. ` +
        `Listen to ${foreign.entity} instead: @ListenTo(${foreign.entity}, { fields: ['${key}'] }), with a ` +
        `@SubjectIdsFrom(${foreign.entity}) method that returns the ids it affects (none when ${foreign.entity} is the subject).`);
    }
  }
}
