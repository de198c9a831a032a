import { Injectable, Scope } from '@nestjs/common';
import { DiscoveryService, REQUEST } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper';
import { MACHINE_KEY } from '../../decorators/metadata-keys';
import { ConfigurationError } from '../../lib/errors';

/**
 * Finds the app's sync machines among its providers, as @nestjs/bullmq finds its processors: every provider
 * whose class is decorated with `@SyncMachine`, whatever module declares it.
 */
@Injectable()
export class SyncMachineExplorer {
  constructor(private readonly discovery: DiscoveryService) {}

  /** How many providers of the class `type` the app has (SyncMachineModule's own, once per import of it). */
  countProviders(type: object): number {
    return this.discovery.getProviders().filter((wrapper) => wrapper.metatype === type).length;
  }

  /** The machine instances, each once (a provider exported to other modules is still one instance). */
  machines(): object[] {
    const found = new Set<object>();
    const modulesOf = new Map<object, { instance: object; module: string }>();
    for (const wrapper of this.discovery.getProviders()) {
      const target = classOf(wrapper);
      if (!target || !Reflect.getMetadata(MACHINE_KEY, target)) continue;
      if (!wrapper.isDependencyTreeStatic()) throw requestScoped(target.name, wrapper);
      if (!wrapper.instance) continue;
      const instance = wrapper.instance as object;
      const module = wrapper.host?.metatype?.name ?? 'a module';
      const first = modulesOf.get(target);
      if (first && first.instance !== instance) {
        // Listed in two modules' providers, Nest makes two instances: two machines of one name (a trial's message
        // said "Shared and Shared are both named", and sent it to @SyncMachine({ name }), which cannot help).
        if (first.module === module) {
          throw new ConfigurationError(`${target.name} is provided twice in ${module} (two providers make an instance of ` +
            'it: a class provider and a factory, say), and each would run as a machine: keep one provider of it.');
        }
        throw new ConfigurationError(`${target.name} is in the providers of two modules (${first.module} and ${module}), ` +
          'so Nest makes an instance in each, and each would run as a machine: keep it in the `providers` of one module, ' +
          'and add it to that module\'s `exports` for the others that inject it.');
      }
      modulesOf.set(target, { instance, module });
      found.add(instance);
    }
    return [...found];
  }
}

/** A class provider's class; for a factory or value provider, the class of the instance it made. */
function classOf(wrapper: InstanceWrapper): (new (...args: never[]) => object) | undefined {
  if (wrapper.metatype && !wrapper.inject) return wrapper.metatype as new (...args: never[]) => object;
  const instance = wrapper.instance as object | undefined;
  return instance && typeof instance === 'object' ? instance.constructor as new (...args: never[]) => object : undefined;
}

/**
 * The refusal of a machine that is request-scoped, or injects (at any depth) a provider that is: it names that
 * provider and the path to it. It named only the machine, whose own @Injectable() had no `scope` to drop (a trial).
 */
function requestScoped(machine: string, wrapper: InstanceWrapper): ConfigurationError {
  const path = requestScopedPath(wrapper, new Set()) ?? [];
  const name = (w: InstanceWrapper) => w.metatype?.name ?? String(w.token);
  if (path.length <= 1) {
    return new ConfigurationError(`${machine} is a request-scoped provider: sync machines run in workers, outside any ` +
      'request. Make it a singleton: drop `scope` from its @Injectable().');
  }
  const last = path[path.length - 1];
  const through = path.length > 2 ? ` (through ${path.slice(1, -1).map(name).join(' → ')})` : '';
  // Nest's REQUEST is a provider named "noop" (its factory), and whatever injects it is request-scoped for good:
  // "make noop a singleton" told a trial nothing, and making its logger one only moved the error to "noop".
  if (last.token === REQUEST) {
    return new ConfigurationError(`${machine} injects REQUEST (the request object, from @nestjs/core)${through}: sync ` +
      'machines run in workers, outside any request, and whatever injects REQUEST is request-scoped. Inject into ' +
      `${machine} what it needs without REQUEST (a plain Logger, say, rather than a request-scoped one).`);
  }
  const culprit = name(last);
  const singleton = injectsRequest(last) ? '' : `Make ${culprit} a singleton (drop \`scope\` from its @Injectable()), or inject `;
  return new ConfigurationError(`${machine} injects ${culprit}, a request-scoped provider${through}: sync machines run in ` +
    `workers, outside any request. ${singleton ? singleton + 'into' : `${culprit} injects REQUEST, so it stays request-scoped: inject into`} ` +
    `${machine} what it needs without it.`);
}

/**
 * Whether the provider injects Nest's REQUEST itself (then no singleton can be made of it). Read from what
 * `@Inject()` records on the class (@nestjs/common's SELF_DECLARED_DEPS_METADATA and PROPERTY_DEPS_METADATA): a
 * request-scoped provider is not built at start, so its wrapper holds no dependencies yet.
 */
function injectsRequest(wrapper: InstanceWrapper): boolean {
  const type = wrapper.metatype;
  if (typeof type !== 'function') return false;
  const params = (Reflect.getMetadata('self:paramtypes', type) ?? []) as Array<{ param?: unknown }>;
  const properties = (Reflect.getMetadata('self:properties_metadata', type) ?? []) as Array<{ type?: unknown }>;
  return params.some((p) => p.param === REQUEST) || properties.some((p) => p.type === REQUEST);
}

/** From `wrapper` to the first request-scoped provider its dependency tree holds (itself, or one it injects). */
function requestScopedPath(wrapper: InstanceWrapper, seen: Set<InstanceWrapper>): InstanceWrapper[] | undefined {
  if (seen.has(wrapper)) return undefined;
  seen.add(wrapper);
  if (wrapper.scope === Scope.REQUEST) return [wrapper];
  const deps = [...(wrapper.getCtorMetadata() ?? []), ...(wrapper.getPropertiesMetadata() ?? []).map((p) => p.wrapper)];
  for (const dep of deps) {
    if (!dep || dep.isDependencyTreeStatic()) continue;
    const below = requestScopedPath(dep, seen);
    if (below) return [wrapper, ...below];
  }
  return undefined;
}
