import type { SyncMachines } from '../../runtime/sync-machines';
import { UsageError } from '../io';

/** A machine named on the command line must be one the config starts. */
export function checkMachine(sync: SyncMachines, machine: string): void {
  if (!sync.machineNames.includes(machine)) {
    throw new UsageError(`Unknown machine "${machine}": the config starts ${sync.machineNames.join(', ')}.`);
  }
}
