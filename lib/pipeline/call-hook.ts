import { basename, join, resolve, sep } from 'node:path';
import { describeError, HookError } from '../errors';
import type { MachineDefinition } from '../metadata/machine-definition';
import { traced, ATTR } from '../tracing';

/** Calls a user method (sync or async) in its own span; a throw becomes a HookError naming where it happened. */
export function callHook(
  machine: MachineDefinition, method: string, spanName: string, args: unknown[], where: HookSite,
): Promise<unknown> {
  return traced(spanName, () => ({ [ATTR.machine]: machine.name, [ATTR.entity]: where.entity, [ATTR.entityId]: where.id }),
    () => invoke(machine, method, args, where));
}

/** Where a hook ran: the row it was called for, and what it was given when that is not a loaded entity. */
export interface HookSite {
  entity: string;
  id: string;
  /** Said after the error, so that a hook written for loaded entities learns why it failed here. */
  given?: string;
}

async function invoke(machine: MachineDefinition, method: string, args: unknown[], where: HookSite): Promise<unknown> {
  try {
    return await machine.instance[method](...args);
  } catch (error) {
    throw hookError(machine, method, where, error, args[0]);
  }
}

/** What a hook's throw (or rejection) becomes: an error naming the class, method, entity and id. */
export function hookError(machine: MachineDefinition, method: string, where: HookSite, error: unknown, row?: unknown): HookError {
  const given = where.given ? ` (${where.given})` : '';
  // What it was given explains such a throw already, where it was not a loaded row.
  const hint = where.given ? '' : unloadedHint(machine, method, error, row);
  return new HookError(`${machine.className}.${method} threw for ${where.entity} ${where.id}: ${describeError(error)}` +
    `${bugSite(error)}${given}${hint}`, { cause: error });
}

/** This package's own code, whose frames a hook's bug is not in: lib/, adapters/, decorators/ (or dist/). */
const OWN = (() => {
  const root = resolve(__dirname, '..', '..');
  const pkg = basename(root) === 'dist' ? resolve(root, '..') : root;
  return ['lib', 'adapters', 'decorators', 'dist'].map((dir) => join(pkg, dir) + sep);
})();

/**
 * Where a hook's own bug is, for an error of the language (TypeError, ReferenceError): the first frame of its stack
 * outside this package, node's internals and node_modules. The log line, drain()'s failures and status carry the
 * message only, and a trial's TypeError from its mapper named no file or line of its own. Errors a hook throws on
 * purpose (a partner's 500) say what they mean, and get none.
 */
function bugSite(error: unknown): string {
  if (!(error instanceof Error) || typeof error.stack !== 'string') return '';
  const frames = error.stack.split('\n').slice(1).flatMap((line) => {
    const at = /^\s*at (?:.*? \()?(.+?:\d+:\d+)\)?$/.exec(line)?.[1];
    return at ? [at] : [];
  });
  const outside = (at: string) => at.startsWith('node:') || at.includes(`${sep}node_modules${sep}`) || OWN.some((dir) => at.startsWith(dir));
  // Or thrown by a library the hook called, on the hook's behalf: MikroORM's "Collection<Tag> of entity Post[5] not
  // initialized" named no place either (a trial).
  const byLibrary = frames.length > 0 && frames[0].includes(`${sep}node_modules${sep}`);
  if (!(error instanceof TypeError || error instanceof ReferenceError || byLibrary)) return '';
  const at = frames.find((frame) => !outside(frame));
  return at ? ` (at ${at})` : '';
}

/**
 * A build that reads a relation the run did not load throws "Cannot read properties of undefined": said with the
 * fix, since the message alone sent a trial looking at its data.
 */
function unloadedHint(machine: MachineDefinition, method: string, error: unknown, row?: unknown): string {
  const message = error instanceof Error ? error.message : '';
  // MikroORM's own words for a collection or reference read before it was loaded.
  const read = error instanceof TypeError ? /Cannot read propert(?:y|ies) of (undefined|null)/.exec(message)?.[1]
    : /\bnot initialized\b/.test(message) ? 'uninitialized' : undefined;
  if (!read) return '';
  if (machine.listeners.some((l) => l.mapper === method)) {
    // A trial's Account mapper read account.invoices, which the changed row never has.
    return read === 'null'
      ? '. A to-one relation is null where the row has none (a row moved to no parent): guard it, as row.parent?.id'
      : '. A mapper gets the changed row loaded without its relations: a collection is not loaded. Load it in the ' +
        'mapper (MikroORM: await row.items.loadItems()), read ids through a @RelationId property (TypeORM, where the ' +
        'collection is undefined and a to-one relation { id }), or query for them';
  }
  const reads = method === machine.hooks.build || method === machine.hooks.checkPublishable;
  if (!reads) return '';
  // The relations the row holds no loaded value for: with every one loaded (an eager one), the hint sent a trial after
  // a relation its bug never read.
  const relations = row && typeof row === 'object' ? machine.subjectInfo.unloaded?.(row) : undefined;
  if (relations?.length === 0) {
    return read === 'null' ? `. A relation of ${machine.subjectInfo.name} that is loaded is null where the row has none, ` +
      'or where its row is soft-deleted or filtered out: guard it, or publish nothing meanwhile (@CheckPublishable)' : '';
  }
  const loaded = machine.relations?.length ? `it loads ${machine.relations.join(', ')} now` : 'it loads none now';
  const which = relations ? ` (${relations.map((r) => `${machine.subjectInfo.name}.${r}`).join(', ')} ${relations.length === 1 ? 'is' : 'are'} not loaded in this run)` : '';
  // A loaded relation reads null too where its row is soft-deleted or filtered out (a trial's eager customer).
  const hidden = read === 'null' ? '; a relation that is loaded is null where its row is soft-deleted or filtered out: ' +
    'guard it, or publish nothing meanwhile (@CheckPublishable)' : '';
  return `. If it reads a relation of ${machine.subjectInfo.name}${which}, name it in @SyncMachine({ relations }) (${loaded}), ` +
    `so that runs load it with the subject${hidden}`;
}
