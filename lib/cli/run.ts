/**
 * Runs the `sync-machine` command line and exits the process with its code: the `bin` entry and a
 * generated app's worker.ts (`runCli(['worker'])`) both call it. The CLI is loaded only here, so an app
 * that imports sync-machine never loads commander.
 */
export function runCli(argv: string[] = process.argv.slice(2)): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { main } = require('./program') as typeof import('./program');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { processIO, quietWhenReaderLeaves } = require('./io') as typeof import('./io');
  quietWhenReaderLeaves(process.stdout);
  void main(argv, processIO()).then((code) => {
    // Exit even when the app's config left handles open (a pool it never closes); flush stdout first.
    if (process.stdout.destroyed) process.exit(code);
    process.stdout.write('', () => process.exit(code));
  });
}
