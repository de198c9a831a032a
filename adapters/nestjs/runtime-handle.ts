import { ConfigurationError } from '../../lib/errors';
import { SyncMachines } from '../../lib/runtime/sync-machines';

/** Where the started runtime is kept once SyncMachineModule has started it. */
export interface RuntimeSlot {
  runtime?: SyncMachines;
}

const NOT_STARTED = 'SyncMachines is not started yet: SyncMachineModule starts it in its onModuleInit, after every ' +
  'provider exists. Call it from onApplicationBootstrap, a controller or a service method, not from a constructor.';

/**
 * What `SyncMachines` injects as: Nest creates providers before any module starts, and the runtime can only start
 * once the machines exist, so providers get this stand-in, which forwards every call to the started runtime.
 * It is `instanceof SyncMachines`, and never a thenable (Nest awaits what a factory returns).
 */
export function runtimeHandle(slot: RuntimeSlot): SyncMachines {
  return new Proxy(Object.create(SyncMachines.prototype) as SyncMachines, {
    get(target, property) {
      if (property === 'then') return undefined;
      const runtime = slot.runtime;
      if (!runtime) {
        // Only the runtime's own members wait for the start; `constructor`, `toString` and the like answer as usual.
        const member = property === 'constructor' ? undefined : Object.getOwnPropertyDescriptor(SyncMachines.prototype, property);
        if (!member) return Reflect.get(target, property);
        if (typeof member.value === 'function') return () => { throw new ConfigurationError(NOT_STARTED); };
        throw new ConfigurationError(NOT_STARTED);
      }
      const value: unknown = Reflect.get(runtime, property, runtime);
      return typeof value === 'function' && property !== 'constructor' ? value.bind(runtime) : value;
    },
  });
}
