import { Command } from 'commander';
import { listed } from '../../errors';
import { STEPS } from '../../pipeline/queues';
import type { DrainChangeFailure, DrainFailure, DrainSummary } from '../../runtime/drain';
import type { SyncMachines } from '../../runtime/sync-machines';
import { CliError, CliIO, line } from '../io';
import { GlobalOptions, withRuntime } from '../session';
import { positiveInteger } from './parse';

interface DrainFlags {
  timeout?: number;
}

/**
 * Waits until nothing of the config's machines is pending or in a run, in any worker, and says what the runs that
 * ended meanwhile did. A shell had no way to wait for that (a trial looked for `sync-machine drain`, as the API
 * has drain()). Exit code 1 when failures are recorded (meanwhile or before) or a notice stands that only a resync
 * ends, so that a deploy script can stop on it.
 */
export async function drain(io: CliIO, globals: GlobalOptions, flags: DrainFlags): Promise<void> {
  await withRuntime(io, globals, undefined, (sync) => drainAndSay(io, sync, flags.timeout));
}

/**
 * drain() on `sync`, then what the runs that ended did and what still needs a look (exit code 1). Its summary counts
 * from this runtime's first request since its last drain: `resync --wait` counts all its runs, where `resync && drain`
 * missed those that ended before the second command started (a trial: "no run ended meanwhile" after 220 calls).
 */
export async function drainAndSay(io: CliIO, sync: SyncMachines, timeoutSeconds: number | undefined): Promise<void> {
  const started = performance.now();
  const summary = await sync.drain(timeoutSeconds === undefined ? {} : { timeoutMs: timeoutSeconds * 1000 });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const outcomes = Object.entries(summary.outcomes).map(([outcome, n]) => `${outcome} ${n}`).join(', ');
  line(io.stdout, `Drained ${sync.machineNames.join(', ')} in ${seconds} s: ${outcomes || 'no run ended meanwhile'}` +
    `${outcomes ? ' (runs that ended meanwhile, in any worker)' : ''}.`);
  const problems = problemsOf(summary);
  // Failures recorded before the call are not in the summary, and stay stale all the same (a trial's fresh check
  // process read `failed: []` beside a subject that status showed failed).
  const statuses = await sync.status({ limit: 0 });
  for (const status of statuses) {
    const recorded = STEPS.reduce((n, step) => n + status.queues[step].failed, 0);
    const said = summary.failed.filter((f) => f.machine === status.machine).length +
      summary.failedChanges.filter((f) => f.machine === status.machine).length;
    if (recorded > said) {
      problems.push(`${status.machine}: ${recorded - said} item(s) stay recorded as failed from before this drain ` +
        `(sync-machine status ${status.machine} shows them); once the cause is fixed: sync-machine retry-failed ${status.machine}.`);
    }
  }
  for (const problem of problems) line(io.stdout, problem);
  if (problems.length > 0) throw new CliError(`drained, but ${problems.length === 1 ? 'one thing needs' : 'some things need'} a look (above).`);
}

/** What a drained machine still needs: failures recorded meanwhile, and notices that only a resync ends. */
function problemsOf(summary: DrainSummary): string[] {
  const out = [
    ...failuresByMachine('subject(s) failed', summary.failed, (f) => f.subjectId),
    ...failuresByMachine('changed row(s) whose subjects could not be found', summary.failedChanges, (f) => `${f.entity} ${f.id}`),
  ];
  for (const { machine, at, maybeNewPrefix } of summary.dataLost) {
    out.push(`${machine}: Redis lost its data${maybeNewPrefix ? ', or this prefix is new to this database' : ''} ` +
      `(found ${at.toISOString()}): changes recorded before then may be gone. Run sync-machine resync ${machine} ` +
      '(unchanged subjects cost no API call).');
  }
  for (const { machine, count } of summary.unreadable) {
    out.push(`${machine}: ${count} inbox entr${count === 1 ? 'y' : 'ies'} could not be read: the changes in ` +
      `${count === 1 ? 'it' : 'them'} may be missing. Run sync-machine resync ${machine}.`);
  }
  return out;
}

/** One line per machine of the failures recorded during the drain, each named with its error. */
function failuresByMachine<F extends DrainFailure | DrainChangeFailure>(what: string, failures: F[], name: (f: F) => string): string[] {
  const byMachine = new Map<string, string[]>();
  for (const f of failures) byMachine.set(f.machine, [...(byMachine.get(f.machine) ?? []), `${name(f)}: ${f.error}`]);
  return [...byMachine].map(([machine, said]) => `${machine}: ${said.length} ${what} (attempts used up): ${listed(said, 5)}. ` +
    `Once the cause is fixed: sync-machine retry-failed ${machine}.`);
}

export function drainCommand(program: Command, io: CliIO, globals: () => GlobalOptions): Command {
  return program.command('drain')
    .summary('wait until the workers have run everything pending')
    .description('Waits until nothing of the config\'s machines is pending or in a run (in any worker process; those ' +
      'waiting for a retry count, failed ones do not), then prints what the runs that ended meanwhile did. Exits 1 ' +
      'when subjects are recorded as failed (meanwhile or before) or Redis lost its data, and on --timeout, naming what ' +
      'is still busy (and, after 5 s, on stderr, a machine with work that no worker runs). Runs no worker itself.')
    .option('--timeout <seconds>', 'give up after this long (default: wait as long as it takes)', positiveInteger)
    .action((flags: DrainFlags) => drain(io, globals(), flags));
}
