import { Command } from 'commander';
import { itemName, STEPS } from '../../pipeline/queues';
import { resolvePrefix } from '../../runtime/options';
import type { DefinitionCount, MachineStatus } from '../../runtime/status';
import type { OtherMachineWork } from '../../redis/other-machines';
import { CliIO, line } from '../io';
import { GlobalOptions, withRuntime } from '../session';
import { checkMachine } from './machine-name';
import { subjectStatus } from './subject-status';
import { nonNegativeInteger } from './parse';

interface StatusFlags {
  json?: boolean;
  limit: number;
  subject?: string;
}

function ago(at: Date, now: number): string {
  const s = Math.max(0, Math.round((now - at.getTime()) / 1000));
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  if (s < 172_800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86_400)} days ago`;
}

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ').trimEnd());
}

/** Live workers on more than one definition of the machine, or on one other than this config's (a deploy under way). */
function definitionsLine(machine: string, definitions: DefinitionCount[]): string {
  const other = definitions.filter((d) => !d.thisProcess).reduce((n, d) => n + d.workers, 0);
  const ours = definitions.find((d) => d.thisProcess)?.workers ?? 0;
  return `  definitions: ${other} worker(s) run another definition of ${machine} than this config (the source of its ` +
    `@Build, @CheckPublishable or @SubjectIdsFrom, its listened fields or relations differ), ${ours} run this one: a ` +
    `deploy under way, or a worker left on old code? Subjects they take are built by that code. Once every worker runs ` +
    `one, resync ${machine} if those changed (sync-machine diff ${machine} lists what differs).`;
}

/** Machines this config does not start that have work in Redis: one line each, with what to do. */
export function formatOthers(others: OtherMachineWork[]): string[] {
  const stranded = others.filter((o) => o.pending + o.inRuns > 0);
  if (stranded.length === 0) return [];
  return ['', 'Redis also holds work of machines this config does not start (renamed or removed?):', ...stranded.map((o) =>
    `  ${o.machine}: ${o.pending} pending, ${o.inRuns} batch(es) in runs, ${o.workers === 0 ? 'no worker runs it' : `${o.workers} worker(s) run it`}. ` +
    'Run it out with a worker of the config that has it (same prefix). If it was renamed, move its payload rows to the ' +
    'new name before a worker of the new name runs (README, "Renaming a machine"): under a new name alone, every subject ' +
    'is published again from ctx.version 1. Then delete its keys.')];
}

/** The text form: one block per machine. */
export function formatStatus(statuses: MachineStatus[], prefix: string, now = Date.now()): string[] {
  const out = [`prefix ${prefix}`];
  for (const s of statuses) {
    out.push('', `${s.machine} (subject ${s.subject})`);
    if (s.dataLost && s.dataLostMaybeNewPrefix) {
      // Found as a new prefix reads: said as a certain loss, it sent a trial that had only changed prefix looking for one.
      out.push(`  Redis lost its data, or this prefix is new to this database (Redis held no record of ${s.machine} while the ` +
        `payload table held subjects it published): found ${s.dataLost.toISOString()} (${ago(s.dataLost, now)}). If Redis lost ` +
        `it, changes recorded before then and not yet run are gone, so subjects may be stale. Either way run sync-machine ` +
        `resync ${s.machine} (unchanged subjects cost no API call; a full resync ends this notice).`);
    } else if (s.dataLost) {
      out.push(`  Redis lost its data: found ${s.dataLost.toISOString()} (${ago(s.dataLost, now)}). Changes recorded before then ` +
        `and not yet run are gone, so subjects may be stale: run sync-machine resync ${s.machine} (a full resync ends this notice).`);
    }
    if (s.unreadable) {
      const n = s.unreadable.count;
      out.push(`  ${n} inbox ${n === 1 ? 'entry' : 'entries'} could not be read (written by hand or by another version; the latest ` +
        `found ${s.unreadable.at.toISOString()}, ${ago(s.unreadable.at, now)}): the changes in ${n === 1 ? 'it' : 'them'} may be ` +
        `missing, so subjects may be stale: run sync-machine resync ${s.machine} (a full resync ends this notice).`);
    }
    out.push(s.workers === 0 ? `  workers: none running (start one with this prefix: npx sync-machine worker, or your app's own worker process)` : `  workers: ${s.workers} running`);
    if (s.definitions) out.push(definitionsLine(s.machine, s.definitions));
    const rows = [['  queue', 'waiting', 'active', 'delayed', 'failed']];
    for (const step of STEPS) {
      const q = s.queues[step];
      rows.push([`  ${step}`, String(q.waiting), String(q.active), String(q.delayed), String(q.failed)]);
    }
    out.push(...table(rows));
    if (s.longestRunning.length > 0) {
      const named = s.longestRunning.map((r) =>
        `${itemName(r.step, s.subject, r.id)} ${(r.forMs / 1000).toFixed(1)} s${r.workerGone ? ' (its worker is gone)' : ''}`);
      out.push(`  running longest: ${named.join(', ')}`);
    }
    const outcomes = Object.entries(s.outcomes);
    out.push(`  outcomes: ${outcomes.length === 0 ? 'none yet' : outcomes.map(([k, v]) => `${k} ${v}`).join(', ')}`);
    out.push(s.lastPublishes.length === 0 ? '  last publishes: none recorded' : '  last publishes:');
    for (const p of s.lastPublishes) out.push(`    ${s.subject} ${p.subjectId}  ${p.at.toISOString()}  (${ago(p.at, now)})`);
    const failed = STEPS.reduce((n, step) => n + s.queues[step].failed, 0);
    if (failed === 0) out.push('  failures: none');
    else {
      out.push(`  failures: ${failed} recorded as failed${s.failures.length < failed ? `, newest ${s.failures.length}` : ''}` +
        ` (sync-machine retry-failed ${s.machine} runs them again):`);
      for (const f of s.failures) {
        out.push(`    ${f.step} ${f.entity} ${f.id}  ${f.attempts} attempt${f.attempts === 1 ? '' : 's'}, ` +
          `last failed ${f.at.toISOString()}`);
        for (const errorLine of f.error.split('\n')) out.push(`      ${errorLine}`);
      }
    }
    // Said in --json only, a corrupt ticket went unseen (a trial): it holds no work, so retry-failed only clears it.
    const failedJobs = STEPS.reduce((n, step) => n + s.queues[step].failedJobs, 0);
    if (failedJobs > 0 || s.failedJobs.length > 0) {
      const some = s.failedJobs.length < failedJobs ? `, ${s.failedJobs.length} of them` : '';
      out.push(`  failed queue jobs: ${Math.max(failedJobs, s.failedJobs.length)}${some} (corrupt or malformed run tickets; ` +
        'they hold no work, retry-failed clears them):');
      // A job written by hand has no timestamp: 1970 read as a date (a trial).
      // With its step, as failures are listed: the job id alone did not say which queue holds it (a trial).
      for (const j of s.failedJobs) {
        out.push(`    ${j.queue.slice(j.queue.lastIndexOf(':') + 1)} ${j.jobId}  ${j.at.getTime() > 0 ? j.at.toISOString() : '(no time)'}  ` +
          j.error.split('\n')[0]);
      }
    }
  }
  return out;
}

export async function status(io: CliIO, globals: GlobalOptions, machines: string[], flags: StatusFlags): Promise<void> {
  await withRuntime(io, globals, undefined, async (sync, { config }) => {
    for (const machine of machines) checkMachine(sync, machine);
    const statuses = await sync.status({ machines: machines.length > 0 ? machines : undefined, limit: flags.limit });
    const prefix = resolvePrefix(config.prefix);
    // --json prints exactly what SyncMachines.status() resolves (dates as ISO strings): one shape for scripts and code.
    if (flags.json) line(io.stdout, JSON.stringify(statuses, null, 2));
    else for (const text of formatStatus(statuses, prefix)) line(io.stdout, text);
    // Work under a name this config does not start (a machine renamed or removed) is run by none of its workers.
    if (machines.length === 0) for (const text of formatOthers(await sync.otherMachines())) line(flags.json ? io.stderr : io.stdout, text);
  });
}

export function statusCommand(program: Command, io: CliIO, globals: () => GlobalOptions): Command {
  return program.command('status')
    .summary('queue depths, outcome counters, last publishes and failures, per machine')
    .description('Per machine (all, or those named): waiting/active/delayed/failed items of both steps, the outcome ' +
      'counters, the latest publishes (subject id, when) and the newest failed subjects with their errors.')
    .argument('[machines...]', 'only these machines')
    .option('--json', 'print JSON, for scripts: the array SyncMachines.status() resolves, one entry per machine')
    .option('--limit <n>', 'latest publishes and failures shown per machine', nonNegativeInteger, 5)
    .option('--subject <id>', 'one subject of one machine: last publish, pending or not, failure')
    .action((machines: string[], flags: StatusFlags) => (flags.subject === undefined
      ? status(io, globals(), machines, flags) : subjectStatus(io, globals(), machines, flags.subject, flags)));
}
