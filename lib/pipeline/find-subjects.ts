import { HookError, InvalidJobError, shownJson } from '../errors';
import type { Logger } from '../logger';
import type { Listener, MachineDefinition } from '../metadata/machine-definition';
import type { Change, OrmAdapter } from '../ports';
import { canonicalId, fitsKey, isUnsafeNumber, KEY_NAMES, type KeyKind, UNSAFE_NUMBER_WHY } from '../key-kinds';
import { SpanKind } from '@opentelemetry/api';
import { annotate, ATTR, currentCarrier, traced } from '../tracing';
import { callHook } from './call-hook';
import { runItem, ItemRunSettings } from './item-run';
import { StoreBatch } from './store-batch';
import { loadApart, LoadedParts, unloadableError } from './load-apart';
import { changeFor, encodeRequest, EncodedRequest } from './requests';
import type { ItemResult, TakenBatch } from './work-queue';

/** What a mapper may return as an id, by the subject's key: "numbers or strings" read oddly for a uuid (a trial). */
const ID_FORMS: Record<KeyKind, string> = {
  integer: 'numbers, or strings of digits', bigint: 'bigints, numbers or strings of digits', uuid: 'uuid strings',
  'uuid-text': 'uuid strings', text: 'strings',
};

export type FindSubjectsOutcome = 'mapped' | 'vanished';

export interface FindSubjectsDeps {
  adapter: OrmAdapter;
  logger: Logger;
  /** Records EnsurePublication requests for the subjects found. */
  requestPublications(machine: string, requests: Array<[subjectId: string, request: EncodedRequest]>): Promise<void>;
  /** `<prefix>:<queue>` of a machine's EnsurePublication step, for the producer spans. */
  publicationDestination(machine: string): string;
  /** Machines, entities and mappers already warned about a removal that mapped to nothing. */
  warnedEmptyRemovals: Set<string>;
}

/** Items of this step are `<Entity>:<id>`. */
export function lookupItem(entity: string, id: string): string {
  return `${entity}:${id}`;
}

function splitItem(item: string): { entity: string; id: string } {
  const colon = item.indexOf(':');
  if (colon < 0) return { entity: '', id: item }; // not written by sync-machine: no mapper is found for it
  return { entity: item.slice(0, colon), id: item.slice(colon + 1) };
}

/**
 * One run over a batch of changed rows: loads the rows of each entity with one query, calls every
 * `@SubjectIdsFrom` method concurrently, and requests one EnsurePublication per subject found, in one call for
 * the rows mapped together (a mapper that takes long holds the others' requests back STORE_WAIT_MS at most).
 */
export async function findSubjectsBatch(
  deps: FindSubjectsDeps, settings: ItemRunSettings, batch: TakenBatch,
): Promise<Array<ItemResult | Promise<ItemResult>>> {
  const { machine } = settings;
  const byEntity = new Map<Listener | undefined, string[]>();
  for (const { item } of batch.items) {
    const { entity, id } = splitItem(item);
    const listener = machine.listeners.find((l) => l.info.name === entity && l.mapper !== undefined);
    const ids = byEntity.get(listener);
    if (ids) ids.push(id);
    else byEntity.set(listener, [id]);
  }
  const rows = new Map<string, object>();
  const unloadable = new Map<string, unknown>();
  await Promise.all([...byEntity].map(async ([listener, ids]) => {
    if (!listener) return;
    const load = (part: string[]) => deps.adapter.load(listener.entity, part, undefined, true);
    let parts: LoadedParts;
    try {
      parts = { rows: await load(ids), unloadable: new Map() };
    } catch (error) {
      // A row the ORM cannot load fails its own change only (see loadApart); the other entities' rows go on.
      parts = await loadApart(load, ids, error, deps.logger, `${machine.className}: loading ${ids.length} changed ${listener.info.name} rows`);
    }
    for (const [id, row] of parts.rows) rows.set(lookupItem(listener.info.name, id), row);
    for (const [id, error] of parts.unloadable) unloadable.set(lookupItem(listener.info.name, id), error);
  }));

  const requests = new StoreBatch<Array<[string, EncodedRequest]>>(batch.items.length, async (found) => {
    await deps.requestPublications(machine.name, found.flat());
    return new Map();
  });
  return batch.items.map((taken) => {
    const slot = requests.slot();
    return runItem(settings, taken, async (request) => {
      const { entity, id } = splitItem(taken.item);
      annotate(() => ({ [ATTR.entity]: entity, [ATTR.entityId]: id, [ATTR.changedKeys]: request.changedKeys }));
      const listener = machine.listeners.find((l) => l.info.name === entity && l.mapper !== undefined);
      if (!listener) {
        const problem = entity === '' ? `the changed-row item "${taken.item}" is not "<Entity>:<id>"`
          : `${machine.className} has no @SubjectIdsFrom(${entity}) (item ${taken.item})`;
        throw new InvalidJobError(`${problem}; it was written by a different version of the app, or by hand.`);
      }
      if (unloadable.has(taken.item)) throw unloadableError(unloadable.get(taken.item));
      const row = rows.get(taken.item) ?? request.snapshot;
      if (!row) {
        // A soft-deleted row reads as gone too (a trial renamed one, restored it, and its orders stayed stale).
        deps.logger.warn(
          `${machine.className}: ${entity} ${id} is gone (or hidden from the load: soft-deleted, or filtered) and no ` +
          `snapshot of it was captured, so its subjects cannot be found; resync(${machine.className}) if its subjects ` +
          `changed. For a soft-deleted row whose @ListenTo(${entity}) names \`fields\`, add its delete column to them: ` +
          'its restore is then a change, and maps the row to its subjects.');
        return 'vanished';
      }
      const change = changeFor(request, rows.has(taken.item));
      const given = rows.has(taken.item) ? undefined : SNAPSHOT_GIVEN;
      // The row moved (a to-one relation changed): the subjects it left are mapped from its earlier values. When
      // either mapping fails, the subjects the other found are still requested, and the change fails with the
      // error (retried). Before, a mapper that threw on the current row (`stock.product.id` of a stock moved to no
      // product) left the product it had moved from stale (a trial).
      const mapped = async (values: object, asChange: Change, said: string | undefined) => normalizeIds(
        await callHook(machine, listener.mapper!, `subject_ids_from ${entity}`, [values, asChange], { entity, id, given: said }),
        machine, listener.mapper!, entity, id);
      let left: { error: unknown } | undefined;
      let subjectIds: string[] = [];
      try {
        subjectIds = await mapped(row, change, given);
        if (subjectIds.length === 0 && change.op === 'remove') warnEmptyRemoval(deps, machine, listener, id);
      } catch (error) {
        left = { error };
      }
      for (const values of request.before) {
        try {
          const earlier = await mapped(values, { op: 'update', changedKeys: request.changedKeys }, BEFORE_GIVEN);
          subjectIds = [...new Set([...subjectIds, ...earlier])];
        } catch (error) {
          left ??= { error }; // the first error is the change's; the other earlier values are still mapped
        }
      }
      // The requests are recorded for the rows mapped together (StoreBatch); each names a producer span made here,
      // under this row's span, so that its subjects' runs join the trace of the change that caused them.
      const destination = deps.publicationDestination(machine.name);
      const traceparent = await traced(`send ${destination}`, {
        [ATTR.machine]: machine.name, [ATTR.messagingSystem]: 'bee-queue', [ATTR.messagingOperation]: 'send',
        [ATTR.messagingDestination]: destination, [ATTR.messagingBatchCount]: subjectIds.length,
      }, async () => currentCarrier().traceparent, { kind: SpanKind.PRODUCER });
      // With a debounce, the subjects' wait counts from the row's change: both steps wait it, and a Product's
      // StockLevel change reached the partner after twice debounceMs (a trial: 10 s for 5 s). The row's latest
      // change goes too: a subject whose run was taken after it is not run again (mark.lua). Without a debounce, a
      // bare request costs the mark least.
      const debounced = machine.batching.debounceMs > 0;
      const at = debounced ? request.firstAt : undefined;
      const last = debounced && at !== undefined ? request.lastAt : undefined;
      if (subjectIds.length > 0) await slot.save(subjectIds.map((subjectId) => [subjectId, encodeRequest({ traceparent, at, last })]));
      if (left) throw left.error;
      return 'mapped';
    }).finally(() => slot.end());
  });
}

/** Said with a mapper's error when it was called with a removed row's snapshot, which code for entities trips on. */
const SNAPSHOT_GIVEN = 'it was called with the removed row\'s snapshot, not a loaded entity: its columns, and each ' +
  'to-one relation as { <key>: value }; collections are not in it, so map from those values';

/** Said with a mapper's error when it was called with a moved row's earlier values. */
const BEFORE_GIVEN = 'it was called with the row\'s values from before it moved (a to-one relation changed), in the ' +
  'shape of a removed row\'s snapshot: its columns, and each to-one relation as { <key>: value }, so that the subjects ' +
  'it left are republished too; map from those values';

function warnEmptyRemoval(deps: FindSubjectsDeps, machine: MachineDefinition, listener: Listener, id: string): void {
  const key = `${machine.name}\n${listener.info.name}\n${listener.mapper}`;
  if (deps.warnedEmptyRemovals.has(key) || linksReported(machine, listener)) return;
  deps.warnedEmptyRemovals.add(key);
  deps.logger.warn(`${machine.className}.${listener.mapper} returned no ${machine.subjectInfo.name} ids for the removed ` +
    `${listener.info.name} ${id}. For a removal it gets a snapshot of the row (columns, and each to-one relation as ` +
    '{ <key>: value }), not a loaded entity, and a query for what the row linked to finds nothing any more (after a soft ' +
    "delete too: the ORM's queries leave the soft-deleted row out unless asked withDeleted): map from " +
    "the snapshot's values where they name the subjects. Its many-to-many links are reported as changes of their own; " +
    'rows the database changes for it (ON DELETE CASCADE or SET NULL) are not: change those through the ORM first, or ' +
    `resync. Where its ${machine.subjectInfo.name} rows were removed through the ORM with it (a cascade the ORM ` +
    'runs), their own removals unpublish them and nothing is missed. (Said once per mapper.)');
}

/**
 * Whether the removed row's links to the subjects are reported as changes of their own: the subject has a
 * many-to-many relation to it, and the machine listens to that property of the subject. Removing a Tag then
 * republishes every Product it was linked to, and a mapper that queries for them rightly finds none: the warning
 * read as a fault to a trial, where nothing was missed (13 products republished, 6 of 6 runs).
 */
function linksReported(machine: MachineDefinition, listener: Listener): boolean {
  const own = machine.listeners.find((l) => l.info.name === machine.subjectInfo.name);
  if (!own) return false;
  return Object.entries(machine.subjectInfo.manyToMany ?? {}).some(([property, other]) =>
    other === listener.info.name && (own.fields === undefined || own.fields.includes(property)));
}

/** A mapper's result as subject ids, spelled as the rows spell them; anything else fails, saying what it was. */
export function normalizeIds(result: unknown, machine: MachineDefinition, method: string, entity: string, id: string): string[] {
  if (result === undefined || result === null) return [];
  const list = Array.isArray(result) ? result : [result];
  return [...new Set(list.map((value) => {
    if (isUnsafeNumber(value)) {
      throw new HookError(
        `${machine.className}.${method} returned the number ${value} among the subject ids for ${entity} ${id}, ` +
        `${UNSAFE_NUMBER_WHY}: return ${machine.subjectInfo.name} ids as the strings the ORM gives (or as BigInts).`);
    }
    if ((typeof value === 'number' && Number.isFinite(value)) || typeof value === 'bigint' ||
        (typeof value === 'string' && value.length > 0)) {
      // As the subject's rows spell it ('007' and 7 are one subject).
      const subjectId = String(value);
      const { keyKind, name, primaryKey } = machine.subjectInfo;
      if (fitsKey(keyKind, subjectId)) return canonicalId(keyKind, subjectId);
      // No row can have it: its run would report a gone subject, and the mapper's mistake would pass unseen.
      throw new HookError(
        `${machine.className}.${method} returned ${shownId(value)} among the subject ids for ${entity} ${id}, ` +
        `which no ${name} can have (${name}.${primaryKey} is ${KEY_NAMES[keyKind]}): return ${name} ids.`);
    }
    throw new HookError(
      `${machine.className}.${method} returned ${shownId(value)} ` +
      `among the subject ids for ${entity} ${id}: return ${machine.subjectInfo.name} ids (${ID_FORMS[machine.subjectInfo.keyKind]}), ` +
      'an array of them, or nothing.');
  }))];
}

/** A value a mapper returned, as the error shows it: its kind said, so that '' and 1.5 and a Date read apart. */
function shownId(value: unknown): string {
  if (value === '') return 'an empty string';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (typeof value === 'number') return `the number ${value}`;
  if (typeof value === 'bigint') return `the BigInt ${value}n`;
  if (value instanceof Date) return `a Date (${Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString()})`;
  if (Array.isArray(value)) return `an array nested in the array (${shownJson(value)})`;
  if (value !== null && typeof value === 'object') return `an object (${shownJson(value)})`;
  return String(value);
}
