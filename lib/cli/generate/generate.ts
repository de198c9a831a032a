import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { CliError, UsageError } from '../io';
import { entityClassNames, findEntity } from './find-entity';
import { closest } from '../../known-options';
import { detectModuleSystem, ModuleSystem, specifier } from './module-system';
import { camelCase, compactStamp, kebabCase, pascalCase } from './names';
import { registerMachine } from './register';
import {
  indexFile, machineFile, mikroOrmMigration, mikroOrmPayloadSetup, typeormMigration, workerFile,
} from './templates';

export type Orm = 'typeorm' | 'mikro-orm';

export interface GenerateRequest {
  machine: string;
  subject: string;
  orm?: Orm;
  /** Source folder, relative to the app root. Default `src`. */
  dir?: string;
  force?: boolean;
  now?: Date;
}

/** What happened to one file, in the generator's report: `create src/sync-machines/index.ts`. */
export interface FileAction {
  action: 'create' | 'overwrite' | 'update' | 'identical' | 'exists';
  path: string;
  note?: string;
}

export interface GenerateResult {
  orm: Orm;
  /** ESM apps get `.js` in relative imports. */
  moduleSystem: ModuleSystem;
  files: FileAction[];
  warnings: string[];
  nextSteps: string[];
}

interface PlannedWrite extends FileAction {
  absolute: string;
  text?: string;
}

/** Any migration this generator wrote before, whatever its timestamp: the payload table is created once per app. */
const PAYLOAD_MIGRATION = /CreateSyncMachinePayloads|payloadTableSql|createPayloadTable/;

function dependenciesOf(root: string): Record<string, string> {
  try {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    return { ...pkg.dependencies, ...pkg.devDependencies, ...pkg.peerDependencies };
  } catch {
    return {};
  }
}

/** The app's ORM: --orm, else the one in its package.json (MikroORM only when TypeORM is absent). */
function pickOrm(requested: Orm | undefined, deps: Record<string, string>): Orm {
  if (requested) return requested;
  return deps['@mikro-orm/core'] && !deps.typeorm ? 'mikro-orm' : 'typeorm';
}

function existingMigration(dir: string): string | undefined {
  if (!existsSync(dir)) return undefined;
  return readdirSync(dir).filter((f) => /\.[cm]?[jt]s$/.test(f)).sort()
    .map((f) => join(dir, f)).find((f) => PAYLOAD_MIGRATION.test(readFileSync(f, 'utf8')));
}

function importPath(fromDir: string, file: string, system: ModuleSystem): string {
  const path = relative(fromDir, file).replace(/\\/g, '/').replace(/\.[cm]?ts$/, '');
  return specifier(path.startsWith('.') ? path : `./${path}`, system);
}

/**
 * Writes the machine class, registers it in `<dir>/sync-machines/index.ts`, and writes the payload-table
 * migration and `<dir>/worker.ts` unless the app has them. Checks everything before writing anything: an
 * existing machine file that differs stops the run (unless `force`), and nothing is half-generated.
 */
export function generate(root: string, request: GenerateRequest): GenerateResult {
  if (!/^[A-Z][A-Za-z0-9]*$/.test(request.machine)) {
    throw new UsageError(`"${request.machine}" is not a class name: write the machine name in PascalCase, e.g. OrderToApiSync.`);
  }
  if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(request.subject)) {
    throw new UsageError(`--subject "${request.subject}" is not an entity name: write it as order, line_item or LineItem.`);
  }
  const deps = dependenciesOf(root);
  const orm = pickOrm(request.orm, deps);
  const moduleSystem = detectModuleSystem(root);
  const now = request.now ?? new Date();
  const srcDir = join(root, request.dir ?? 'src');
  const machinesDir = join(srcDir, 'sync-machines');
  const machineFileName = kebabCase(request.machine);
  const subject = pascalCase(request.subject);
  const rel = (absolute: string) => relative(root, absolute).replace(/\\/g, '/');
  const warnings: string[] = [];
  const plan: PlannedWrite[] = [];

  // The machine class.
  // A machine importing a class that is not there would be registered, and the app would no longer compile.
  const entity = findEntity(srcDir, subject);
  if (!entity) {
    const known = entityClassNames(srcDir);
    const near = closest(subject, known);
    throw new UsageError(`--subject ${request.subject}: no \`export class ${subject}\` under ${rel(srcDir) || '.'}` +
      `${near ? `; did you mean ${near}?` : '.'} ` +
      (known.length > 0 ? `Its entities: ${known.join(', ')}. ` : 'It declares no @Entity class. ') +
      'Write the entity first, or pass --dir with the source folder that holds it (default src). Nothing was written.');
  }
  const command = `sync-machine generate ${request.machine} --subject ${request.subject}` +
    `${request.orm ? ` --orm ${request.orm}` : ''}`;
  const machinePath = join(machinesDir, `${machineFileName}.ts`);
  const machineText = machineFile({
    machine: request.machine, subject, subjectVar: camelCase(request.subject), command,
    subjectImport: importPath(machinesDir, entity.file, moduleSystem),
    subjectIsDefault: entity.isDefault, primaryKey: entity.primaryKey, orm,
  });
  if (!existsSync(machinePath)) plan.push({ action: 'create', path: rel(machinePath), absolute: machinePath, text: machineText });
  else if (readFileSync(machinePath, 'utf8') === machineText) plan.push({ action: 'identical', path: rel(machinePath), absolute: machinePath });
  else if (request.force) plan.push({ action: 'overwrite', path: rel(machinePath), absolute: machinePath, text: machineText });
  else {
    throw new CliError(`${rel(machinePath)} exists and differs from what generate would write: nothing was written. ` +
      'Pass --force to overwrite it (your changes to it are lost), or choose another machine name.');
  }

  // The registry.
  const indexPath = join(machinesDir, 'index.ts');
  const machineSpecifier = specifier(machineFileName, moduleSystem);
  if (!existsSync(indexPath)) {
    plan.push({ action: 'create', path: rel(indexPath), absolute: indexPath, text: indexFile(request.machine, machineSpecifier) });
  } else {
    const before = readFileSync(indexPath, 'utf8');
    const after = registerMachine(before, rel(indexPath), request.machine, machineSpecifier);
    plan.push(after === before
      ? { action: 'identical', path: rel(indexPath), absolute: indexPath, note: `${request.machine} is registered` }
      : { action: 'update', path: rel(indexPath), absolute: indexPath, text: after, note: `registered ${request.machine}` });
  }

  // The payload-table migration, once per app; --force rewrites it in place, keeping its timestamp.
  const migrationsDir = join(srcDir, 'migrations');
  const existing = existingMigration(migrationsDir);
  const kept = existing ? /(\d{13,14})/.exec(basename(existing))?.[1] : undefined;
  let migrationText: string;
  let migrationPath: string;
  // MikroORM: a Migration class needs @mikro-orm/migrations; without it, a function that runs the SQL itself.
  const mikroMigrations = orm === 'mikro-orm' && Boolean(deps['@mikro-orm/migrations']);
  if (orm === 'typeorm') {
    const timestamp = kept?.length === 13 ? Number(kept) : now.getTime();
    migrationText = typeormMigration(timestamp);
    migrationPath = existing ?? join(migrationsDir, `${timestamp}-CreateSyncMachinePayloads.ts`);
  } else if (!mikroMigrations) {
    migrationText = mikroOrmPayloadSetup();
    migrationPath = existing ?? join(migrationsDir, 'create-sync-machine-payloads.ts');
  } else {
    const sqlite = deps['@mikro-orm/sqlite'] || deps['@mikro-orm/better-sqlite'] || deps['@mikro-orm/libsql'];
    if (!sqlite && !deps['@mikro-orm/postgresql']) {
      warnings.push('No MikroORM driver in package.json: the migration uses PostgreSQL\'s SQL; change its dialect for SQLite.');
    }
    const name = `Migration${kept?.length === 14 ? kept : compactStamp(now)}_CreateSyncMachinePayloads`;
    migrationText = mikroOrmMigration(name, sqlite ? 'sqlite' : 'postgresql');
    migrationPath = existing ?? join(migrationsDir, `${name}.ts`);
  }
  if (!existing) plan.push({ action: 'create', path: rel(migrationPath), absolute: migrationPath, text: migrationText });
  else if (request.force) plan.push({ action: 'overwrite', path: rel(migrationPath), absolute: migrationPath, text: migrationText });
  else plan.push({ action: 'exists', path: rel(migrationPath), absolute: migrationPath, note: 'the payload table has its migration' });

  // The worker entry.
  const workerPath = join(srcDir, 'worker.ts');
  if (!existsSync(workerPath)) plan.push({ action: 'create', path: rel(workerPath), absolute: workerPath, text: workerFile() });
  else if (request.force) plan.push({ action: 'overwrite', path: rel(workerPath), absolute: workerPath, text: workerFile() });
  else plan.push({ action: 'exists', path: rel(workerPath), absolute: workerPath, note: 'kept; --force overwrites it' });

  for (const write of plan) {
    if (write.text === undefined) continue;
    mkdirSync(dirname(write.absolute), { recursive: true });
    writeFileSync(write.absolute, write.text);
  }
  return {
    orm, moduleSystem, warnings,
    nextSteps: nextSteps(orm, mikroMigrations, rel(machinePath), rel(indexPath), rel(migrationPath)),
    files: plan.map(({ action, path, note }) => ({ action, path, ...(note ? { note } : {}) })),
  };
}

function nextSteps(orm: Orm, mikroMigrations: boolean, machine: string, index: string, migration: string): string[] {
  const pkg = orm === 'typeorm' ? 'sync-machine/typeorm' : 'sync-machine/mikro-orm';
  let table: string;
  if (orm === 'typeorm') table = `run the migration ${migration} (add it to the DataSource's migrations)`;
  else if (mikroMigrations) table = `run the migration ${migration} with MikroORM's migrator (@mikro-orm/migrations)`;
  else {
    table = `create the payload table once at deploy: \`await createSyncMachinePayloads(orm)\` from ${migration} ` +
      '(it skips a table that exists; with @mikro-orm/migrations installed, generate --force writes a Migration class instead)';
  }
  return [
    `Write build() and publish() in ${machine}.`,
    `Add SyncMachinePayload (from '${pkg}') to the ORM's entities, and ${table}.`,
    `Start the machines in the app: SyncMachines.start({ orm, redis, machines }) with \`machines\` from ${index}.`,
    'Run workers: sync-machine.config.js (see the README, "Configuration"), then `npx sync-machine worker` or `node dist/worker.js`.',
  ];
}
