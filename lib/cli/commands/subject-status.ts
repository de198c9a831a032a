import type { SubjectStatus } from '../../runtime/subject-status';
import { asUsage, CliIO, line, UsageError } from '../io';
import { GlobalOptions, withRuntime } from '../session';
import { checkMachine } from './machine-name';

/** The text form of one subject's status. */
export function formatSubjectStatus(s: SubjectStatus): string[] {
  const out = [`${s.machine}: ${s.subject} ${s.subjectId}`];
  out.push(s.exists ? '  row:       in the database'
    : `  row:       not in the database (${s.published ? "removed while published: its removal's run unpublishes it, or a resync if removed outside the ORM" : 'no such row, or removed'})`);
  const p = s.published;
  out.push(p
    ? `  published: ${p.at.toISOString()}, digest ${p.digest}${p.version === undefined ? '' : `, version ${p.version}`}`
    : s.unpublished ? `  published: no: unpublished (its unpublish went out as version ${s.unpublished.version})`
      : '  published: never (or unpublished since)');
  out.push(`  pending:   ${s.pending ? 'yes (a run will publish it, or is publishing it now)' : 'no'}`);
  if (s.unmapped) {
    out.push(`  unmapped:  ${s.unmapped} changed row${s.unmapped === 1 ? '' : 's'} of related entities not yet mapped to ` +
      'subjects (it may be among them, and then runs again)');
  }
  if (!s.failed) {
    out.push('  failed:    no');
    return out;
  }
  out.push(`  failed:    ${s.failed.at.toISOString()} after ${s.failed.attempts} attempt${s.failed.attempts === 1 ? '' : 's'} ` +
    `(sync-machine retry-failed ${s.machine} runs it again)`);
  for (const errorLine of s.failed.error.split('\n')) out.push(`    ${errorLine}`);
  return out;
}

/** `sync-machine status <machine> --subject <id>`: one subject of one machine. */
export async function subjectStatus(
  io: CliIO, globals: GlobalOptions, machines: string[], subjectId: string, flags: { json?: boolean },
): Promise<void> {
  if (machines.length !== 1) {
    throw new UsageError(`--subject needs exactly one machine: sync-machine status <machine> --subject ${subjectId}` +
      `${machines.length > 1 ? ` (got ${machines.join(', ')})` : ''}.`);
  }
  const [machine] = machines;
  await withRuntime(io, globals, undefined, async (sync) => {
    checkMachine(sync, machine);
    const status = await asUsage(sync.subjectStatus(machine, subjectId), '--subject');
    if (flags.json) line(io.stdout, JSON.stringify(status, null, 2));
    else for (const text of formatSubjectStatus(status)) line(io.stdout, text);
  });
}
