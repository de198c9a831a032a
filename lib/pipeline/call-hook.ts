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
    throw hookError(machine, method, where, error);
  }
}

/** What a hook's throw (or rejection) becomes: an error naming the class, method, entity and id. */
export function hookError(machine: MachineDefinition, method: string, where: HookSite, error: unknown): HookError {
  const given = where.given ? ` (${where.given})` : '';
  return new HookError(`${machine.className}.${method} threw for ${where.entity} ${where.id}: ${describeError(error)}${given}` +
    unloadedHint(machine, method, error), { cause: error });
}

/**
 * A build that reads a relation the run did not load throws "Cannot read properties of undefined": said with the
 * fix, since the message alone sent a trial looking at its data.
 */
function unloadedHint(machine: MachineDefinition, method: string, error: unknown): string {
  const reads = method === machine.hooks.build || method === machine.hooks.checkPublishable;
  if (!reads || !(error instanceof TypeError) || !/Cannot read propert(y|ies) of (undefined|null)/.test(error.message)) return '';
  const loaded = machine.relations?.length ? `it loads ${machine.relations.join(', ')} now` : 'it loads none now';
  return `. If it reads a relation of ${machine.subjectInfo.name}, name it in @SyncMachine({ relations }) (${loaded}), ` +
    'so that runs load it with the subject';
}
