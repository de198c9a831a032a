import { Command, Option } from 'commander';
import { STEPS } from '../../pipeline/queues';
import type { Step } from '../../redis/keys';
import { CliIO, line, UsageError } from '../io';
import { GlobalOptions, withRuntime } from '../session';
import { drainAndSay } from './drain';
import { checkMachine } from './machine-name';
import { positiveInteger } from './parse';

interface RetryFlags {
  step?: Step;
  wait?: boolean;
  timeout?: number;
}

export async function retryFailed(io: CliIO, globals: GlobalOptions, machine: string, flags: RetryFlags): Promise<void> {
  if (flags.timeout !== undefined && !flags.wait) throw new UsageError('--timeout goes with --wait: retry-failed --wait --timeout <seconds>.');
  await withRuntime(io, globals, undefined, async (sync) => {
    checkMachine(sync, machine);
    // retryFailed clears the failed queue jobs too (they hold no work): said, so that their going is not a surprise.
    // Their count only: limit 0 reads no failure record and no job. A status Redis refuses (a key of the wrong type)
    // leaves the count out: the retry then says what it was refused, as retry-failed, not as status (a trial).
    const [before] = await sync.status({ machines: [machine], limit: 0 }).catch(() => [undefined]);
    const jobs = before ? (flags.step ? [flags.step] : STEPS).reduce((n, step) => n + before.queues[step].failedJobs, 0) : 0;
    const counts = await sync.retryFailed(machine, { step: flags.step });
    const total = Object.values(counts).reduce((a, b) => a + (b ?? 0), 0);
    const cleared = jobs === 0 ? '' : ` Cleared ${jobs} failed queue ` +
      `job${jobs === 1 ? '' : 's'} (corrupt or malformed run tickets, which held no work; the changes they stood for are ` +
      'in the work sets).';
    if (total === 0) {
      line(io.stdout, `No failed ${flags.step ?? ''}${flags.step ? ' ' : ''}items of ${machine} to run again.${cleared}`);
      return;
    }
    const detail = Object.entries(counts).map(([step, n]) => `${step} ${n}`).join(', ');
    line(io.stdout, `Put back ${total} failed item${total === 1 ? '' : 's'} of ${machine} (${detail}), with fresh attempts. ` +
      `A worker runs them from current data.${cleared}`);
    if (flags.wait) await drainAndSay(io, sync, flags.timeout);
  });
}

export function retryFailedCommand(program: Command, io: CliIO, globals: () => GlobalOptions): Command {
  return program.command('retry-failed')
    .summary('run a machine\'s failed subjects again')
    .description('Makes the subjects (and changed rows) of <machine> that used up their attempts pending again, with ' +
      'fresh attempts. Each run loads and builds from current data, so nothing stale is sent.')
    .argument('<machine>', 'machine name, e.g. OrderToApiSync')
    .addOption(new Option('--step <step>', 'only this step (default: both)').choices([...STEPS]))
    .option('--wait', 'then wait until the workers have run them, and print what they did (as drain; exit 1 on failures)')
    .option('--timeout <seconds>', 'with --wait: give up after this long', positiveInteger)
    .action((machine: string, flags: RetryFlags) => retryFailed(io, globals(), machine, flags));
}
