import { Command, Option } from 'commander';
import { generate, GenerateRequest, Orm } from '../generate/generate';
import { CliIO, line } from '../io';

interface GenerateFlags {
  subject: string;
  orm?: Orm;
  dir: string;
  force?: boolean;
}

export function runGenerate(io: CliIO, machine: string, flags: GenerateFlags): void {
  const request: GenerateRequest = { machine, subject: flags.subject, orm: flags.orm, dir: flags.dir, force: flags.force };
  const result = generate(io.cwd, request);
  const width = Math.max(...result.files.map((f) => f.action.length));
  for (const file of result.files) {
    line(io.stdout, `${file.action.padStart(width)}  ${file.path}${file.note ? `  (${file.note})` : ''}`);
  }
  for (const warning of result.warnings) line(io.stderr, `warning: ${warning}`);
  line(io.stdout);
  line(io.stdout, `Next (${result.orm === 'typeorm' ? 'TypeORM' : 'MikroORM'}):`);
  result.nextSteps.forEach((step, i) => line(io.stdout, `  ${i + 1}. ${step}`));
}

export function generateCommand(program: Command, io: CliIO): Command {
  return program.command('generate')
    .summary('write a machine class, register it, and add the payload-table migration')
    .description('Writes <dir>/sync-machines/<machine>.ts (every hook, each saying what it is for), registers the ' +
      'machine in <dir>/sync-machines/index.ts, and writes the payload-table migration and <dir>/worker.ts unless the ' +
      'app has them. Running it again duplicates nothing; an existing file is never overwritten without --force.')
    .argument('<machine>', 'class name of the machine, e.g. OrderToApiSync')
    .requiredOption('--subject <entity>', 'the entity the API knows, e.g. order (class Order)')
    .addOption(new Option('--orm <orm>', 'the app\'s ORM (default: from package.json, else typeorm)').choices(['typeorm', 'mikro-orm']))
    .option('--dir <dir>', 'source folder of the app', 'src')
    .option('--force', 'overwrite the machine file, the migration and worker.ts if they exist')
    .action((machine: string, flags: GenerateFlags) => runGenerate(io, machine, flags));
}
