import 'reflect-metadata';
import { MACHINE_KEY, MachineOptions } from './metadata-keys';

/** Marks a class as a sync machine for `options.subject`. Records metadata only. */
export function SyncMachine(options: MachineOptions): ClassDecorator {
  return (target) => {
    Reflect.defineMetadata(MACHINE_KEY, { ...options }, target);
  };
}
