import { Command } from 'commander';
import type { ColumnFilter } from '../../ports';
import type { DifferingSubject, ReconcileReport, UnpublishableSubject } from '../../runtime/reconcile';
import { canonicalJson } from '../../store/canonical-json';
import { asUsage, CliIO, line, UsageError } from '../io';
import { GlobalOptions, withRuntime } from '../session';
import { checkMachine } from './machine-name';
import { columnFilter, idList, nonNegativeInteger } from './parse';

interface DiffFlags {
  ids?: string[];
  where?: ColumnFilter;
  limit?: number;
  json?: boolean;
}

/** Longest value shown inline; longer ones are cut (`--json` has them whole). */
const SHOWN = 120;

function whole(value: unknown): string {
  return value === undefined ? '(absent)' : canonicalJson(value);
}

function cut(text: string): string {
  return text.length > SHOWN ? `${text.slice(0, SHOWN - 1)}…` : text;
}

/**
 * The two values as shown. Two long values that differ past what is shown would read the same (a 40-member list
 * whose one email changed): then both are shown from a little before their first difference, which is named.
 */
function shownPair(before: unknown, after: unknown): { before: string; after: string; note: string } {
  const [a, b] = [whole(before), whole(after)];
  if (cut(a) !== cut(b)) return { before: cut(a), after: cut(b), note: '' };
  let at = 0;
  while (at < a.length && a[at] === b[at]) at++;
  const from = Math.max(0, at - 20);
  const part = (text: string) => `…${text.slice(from, from + SHOWN / 2)}${from + SHOWN / 2 < text.length ? '…' : ''}`;
  return { before: part(a), after: part(b), note: ` (they differ from character ${at + 1} on)` };
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** What changed, field by field for objects (top level), or the two values whole. */
export function describeDifference(d: DifferingSubject): string[] {
  if (d.storedDigest === undefined) return [`not published yet: ${cut(whole(d.built))}`];
  if (d.stored === undefined) {
    return [`digest ${d.storedDigest.slice(0, 12)} -> ${d.builtDigest.slice(0, 12)} (the store keeps digests only)`];
  }
  if (!isObject(d.stored) || !isObject(d.built)) {
    const shown = shownPair(d.stored, d.built);
    return [`- ${shown.before}`, `+ ${shown.after}${shown.note}`];
  }
  const keys = [...new Set([...Object.keys(d.stored), ...Object.keys(d.built)])].sort();
  const [stored, built] = [d.stored, d.built];
  return keys
    .filter((k) => whole(stored[k]) !== whole(built[k]))
    .map((k) => {
      const shown = shownPair(stored[k], built[k]);
      return `${k}: ${shown.before} -> ${shown.after}${shown.note}`;
    });
}

function describeWithdrawal(u: UnpublishableSubject): string {
  const why = u.reason === 'gone' ? 'the row is gone' : '@CheckPublishable says no';
  return `${why}; ${u.wouldUnpublish ? 'published before: a run would unpublish it' : 'never published (or unpublished since): nothing to do'}`;
}

/** The text form of a reconcile report. */
export function formatDiff(report: ReconcileReport): string[] {
  const { subject } = report;
  const withdrawals = report.unpublishable.filter((u) => u.wouldUnpublish).length;
  const out = [
    `${report.machine}: ${report.checked} subject${report.checked === 1 ? '' : 's'} checked` +
    `${report.limited ? ' (--limit reached; more exist)' : ''}: ${report.differing.length} differ, ` +
    `${report.unpublishable.length} not publishable (${withdrawals} would be unpublished), ` +
    `${report.unchanged} unchanged, ${report.errors.length} failed to build.`,
    'Dry run: nothing was published or written.',
  ];
  if (report.differing.length > 0) out.push('', 'differ (a run would publish):');
  for (const d of report.differing) {
    const [first, ...rest] = describeDifference(d);
    out.push(`  ${subject} ${d.subjectId}  ${first}`, ...rest.map((text) => `  ${' '.repeat(subject.length + d.subjectId.length + 1)}  ${text}`));
  }
  if (report.unpublishable.length > 0) out.push('', 'not publishable:');
  for (const u of report.unpublishable) out.push(`  ${subject} ${u.subjectId}  ${describeWithdrawal(u)}`);
  if (report.errors.length > 0) out.push('', 'failed to build (a run would fail the same way):');
  for (const e of report.errors) out.push(`  ${subject} ${e.subjectId}  ${e.error}`);
  return out;
}

export async function diff(io: CliIO, globals: GlobalOptions, machine: string, flags: DiffFlags): Promise<void> {
  if (flags.ids && flags.where) throw new UsageError('--ids and --where exclude each other: pick the subjects one way.');
  await withRuntime(io, globals, undefined, async (sync) => {
    checkMachine(sync, machine);
    const report = await asUsage(sync.reconcile(machine, { ids: flags.ids, where: flags.where, limit: flags.limit }), '--ids');
    if (flags.json) line(io.stdout, JSON.stringify(report, null, 2));
    else for (const text of formatDiff(report)) line(io.stdout, text);
  });
}

export function diffCommand(program: Command, io: CliIO, globals: () => GlobalOptions): Command {
  return program.command('diff')
    .summary('dry run: which subjects a run would publish or unpublish, and what would change')
    .description('Builds the current payload of every subject of <machine> (paged by primary key), or of those given ' +
      'with --ids or matched by --where, and compares it with the payload last published. Prints the subjects that ' +
      'differ (field by field), those no longer publishable, and those whose build fails. Publishes nothing and ' +
      'writes nothing, in the database or in Redis.')
    .argument('<machine>', 'machine name, e.g. OrderToApiSync')
    .option('--ids <ids>', 'only these subject ids, comma-separated: --ids 1,2,3', idList)
    .option('--where <json>', 'only subjects whose columns equal these values: --where \'{"status":"shipped"}\'', columnFilter)
    .option('--limit <n>', 'check at most this many subjects', nonNegativeInteger)
    .option('--json', 'print the report as JSON, for scripts')
    .action((machine: string, flags: DiffFlags) => diff(io, globals(), machine, flags));
}
