import { describeError, HookError } from '../errors';
import type { MachineDefinition } from '../metadata/machine-definition';
import { traced, ATTR } from '../tracing';

/** Calls a user method (sync or async) in its own span; a throw becomes a HookError naming where it happened. */
export async function callHook(
  machine: MachineDefinition, method: string, spanName: string, args: unknown[], where: { entity: string; id: string },
): Promise<unknown> {
  return traced(spanName, { [ATTR.machine]: machine.name, [ATTR.entity]: where.entity, [ATTR.entityId]: where.id },
    async () => {
      try {
        return await machine.instance[method](...args);
      } catch (error) {
        throw new HookError(
          `${machine.className}.${method} threw for ${where.entity} ${where.id}: ${describeError(error)}`, { cause: error });
      }
    });
}
