import { Command, Option } from 'commander';
import { STEPS } from '../../pipeline/queues';
import type { Step } from '../../redis/keys';
import { CliIO, line } from '../io';
import { GlobalOptions, withRuntime } from '../session';
import { checkMachine } from './machine-name';

export async function retryFailed(io: CliIO, globals: GlobalOptions, machine: string, flags: { step?: Step }): Promise<void> {
  await withRuntime(io, globals, undefined, async (sync) => {
    checkMachine(sync, machine);
    const counts = await sync.retryFailed(machine, { step: flags.step });
    const total = Object.values(counts).reduce((a, b) => a + (b ?? 0), 0);
    if (total === 0) {
      line(io.stdout, `No failed ${flags.step ?? ''}${flags.step ? ' ' : ''}jobs of ${machine} to put back.`);
      return;
    }
    const detail = Object.entries(counts).map(([step, n]) => `${step} ${n}`).join(', ');
    line(io.stdout, `Put back ${total} failed job${total === 1 ? '' : 's'} of ${machine} (${detail}), with fresh retries. ` +
      'A worker runs them from current data.');
  });
}

export function retryFailedCommand(program: Command, io: CliIO, globals: () => GlobalOptions): Command {
  return program.command('retry-failed')
    .summary('put a machine\'s failed jobs back in their queues')
    .description('Moves the jobs of <machine> that used up their retries from the failed set back to the waiting ' +
      'queue, with their retries reset. Each run loads and builds from current data, so nothing stale is sent.')
    .argument('<machine>', 'machine name, e.g. OrderToApiSync')
    .addOption(new Option('--step <step>', 'only this step (default: both)').choices([...STEPS]))
    .action((machine: string, flags: { step?: Step }) => retryFailed(io, globals(), machine, flags));
}
