import { createHash } from 'node:crypto';
import type { MachineDefinition } from './machine-definition';

/**
 * A short digest of what decides a machine's payloads and which changes reach them: its subject, `relations`, the
 * listened entities and fields, and the source text of @Build, @CheckPublishable and each @SubjectIdsFrom. Workers
 * put it on their machine's roll (worker-roll.ts), so that a resync or status run during a deploy can tell that
 * some workers still run other code: a trial's resync, run while one old worker was left running, had 2,000 of 3,000
 * orders built by the old @Build, found unchanged and never sent in the new shape, with nothing said.
 *
 * Source text, not behaviour: code the hooks call elsewhere is not in it (equal digests prove nothing), and a
 * differing one may come of a build step alone. It only says "these workers run other code".
 */
export function definitionDigest(machine: Pick<MachineDefinition, 'subjectInfo' | 'relations' | 'listeners' | 'hooks' | 'instance'>): string {
  const source = (method: string | undefined) => (method ? String(machine.instance[method] ?? '') : '');
  const parts = {
    subject: machine.subjectInfo.name,
    relations: machine.relations ?? [],
    listeners: machine.listeners
      .map((l) => ({ entity: l.info.name, fields: l.fields ? [...l.fields].sort() : null, mapper: source(l.mapper) }))
      .sort((a, b) => (a.entity < b.entity ? -1 : a.entity > b.entity ? 1 : 0)),
    build: source(machine.hooks.build),
    checkPublishable: source(machine.hooks.checkPublishable),
  };
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 12);
}
