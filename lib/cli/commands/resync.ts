import { Command } from 'commander';
import { Presets, SingleBar } from 'cli-progress';
import type { ColumnFilter } from '../../ports';
import { asUsage, CliIO, line, UsageError } from '../io';
import { GlobalOptions, withRuntime } from '../session';
import { checkMachine } from './machine-name';
import { drainAndSay } from './drain';
import { columnFilter, idList, positiveInteger } from './parse';

interface ResyncFlags {
  ids?: string[];
  where?: ColumnFilter;
  force?: boolean;
  batchSize?: number;
  wait?: boolean;
  timeout?: number;
}

/** A cli-progress bar on a terminal; elsewhere (CI logs, pipes) a plain line at most once a second, and the last. */
function progressReporter(io: CliIO, label: string) {
  let bar: SingleBar | undefined;
  let printedAt = 0;
  let printed = 0;
  let last: { enqueued: number; total?: number } | undefined;
  const text = ({ enqueued, total }: { enqueued: number; total?: number }) =>
    `${label}: enqueued ${enqueued}${total === undefined ? '' : `/${total}`}`;
  return {
    update(enqueued: number, total?: number) {
      last = { enqueued, total };
      if (io.stderr.isTTY) {
        if (!bar) {
          bar = new SingleBar({
            stream: io.stderr, hideCursor: true,
            format: total === undefined
              ? `${label} | {value} enqueued | {duration_formatted}`
              : `${label} |{bar}| {value}/{total} enqueued | {percentage}% | ETA {eta_formatted}`,
          }, Presets.shades_classic);
          bar.start(total ?? 0, 0);
        }
        if (total !== undefined) bar.setTotal(total);
        bar.update(enqueued);
      } else if (Date.now() - printedAt >= 1000) {
        printedAt = Date.now();
        printed = enqueued;
        line(io.stderr, text(last));
      }
    },
    stop() {
      if (bar) bar.stop();
      else if (last && printed !== last.enqueued) line(io.stderr, text(last));
    },
  };
}

export async function resync(io: CliIO, globals: GlobalOptions, machine: string, flags: ResyncFlags): Promise<void> {
  if (flags.ids && flags.where) throw new UsageError('--ids and --where exclude each other: pick the subjects one way.');
  if (flags.timeout !== undefined && !flags.wait) throw new UsageError('--timeout goes with --wait: resync --wait --timeout <seconds>.');
  await withRuntime(io, globals, undefined, async (sync) => {
    checkMachine(sync, machine);
    const progress = progressReporter(io, machine);
    let enqueued: number;
    try {
      ({ enqueued } = await asUsage(sync.resync(machine, {
        ids: flags.ids, where: flags.where, force: flags.force, batchSize: flags.batchSize, onProgress: progress.update,
      }), '--ids'));
    } finally {
      progress.stop();
    }
    line(io.stdout, `Enqueued ${enqueued} ${machine} subject${enqueued === 1 ? '' : 's'} for publication` +
      `${flags.force ? ' (forced: unchanged payloads are sent again)' : ''}. ` +
      (flags.wait ? 'Waiting for the workers to run them.' : 'A worker publishes them; `sync-machine status` shows the queues.'));
    if (flags.wait) await drainAndSay(io, sync, flags.timeout);
  });
}

export function resyncCommand(program: Command, io: CliIO, globals: () => GlobalOptions): Command {
  return program.command('resync')
    .summary('enqueue a publication run for every subject of a machine, or some')
    .description('Backfill: enqueues an EnsurePublication for every subject of <machine> (paged by primary key), or for ' +
      'the subjects given with --ids or matched by --where. Unchanged payloads are skipped by the worker unless --force. ' +
      'Shows a progress bar on a terminal, plain lines otherwise, and prints how many were enqueued.')
    .argument('<machine>', 'machine name, e.g. OrderToApiSync')
    .option('--ids <ids>', 'only these subject ids, comma-separated: --ids 1,2,3', idList)
    .option('--where <json>', 'only subjects whose columns equal these values: --where \'{"status":"shipped"}\'', columnFilter)
    .option('--force', 'publish even when the payload equals the last one published')
    .option('--batch-size <n>', 'ids read and enqueued per batch', positiveInteger, 500)
    .option('--wait', 'then wait until the workers have run them, and print what they did (as drain; exit 1 on failures)')
    .option('--timeout <seconds>', 'with --wait: give up after this long', positiveInteger)
    .action((machine: string, flags: ResyncFlags) => resync(io, globals(), machine, flags));
}
