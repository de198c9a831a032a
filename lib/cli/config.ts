import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { describeError, SyncMachineError } from '../errors';
import { refuseUnknownOptions } from '../known-options';
import { resolveWorker, START_OPTIONS, type StartOptions } from '../runtime/options';
import { CliError } from './io';

/**
 * What `sync-machine.config.js` exports (as `module.exports`, or `export default`): these options, or a
 * function (possibly async) that returns them. Every command starts its runtime from them; `worker` is
 * used by `sync-machine worker` only.
 */
export interface SyncMachineConfig extends StartOptions {
  /** Called once the command is done and the runtime closed: close what the config opened (the DataSource). */
  close?: () => unknown;
}

export const DEFAULT_CONFIG_FILES = ['sync-machine.config.js', 'sync-machine.config.cjs'];

export interface LoadedConfig {
  file: string;
  config: SyncMachineConfig;
}

/** Where the config file's name came from, for the error when it is not there. */
export type ConfigSource = '--config' | 'SYNC_MACHINE_CONFIG';

/** Finds the config file: `--config`, else SYNC_MACHINE_CONFIG, else sync-machine.config.js in `cwd`. */
export function findConfigFile(cwd: string, given: string | undefined, from: ConfigSource = '--config'): string {
  if (given) {
    const file = resolve(cwd, given);
    if (!existsSync(file)) {
      throw new CliError(`${from === '--config' ? `--config ${given}` : `SYNC_MACHINE_CONFIG=${given}`}: no such file (looked for ${file}).`);
    }
    return file;
  }
  for (const name of DEFAULT_CONFIG_FILES) {
    const file = resolve(cwd, name);
    if (existsSync(file)) return file;
  }
  throw new CliError(`No ${DEFAULT_CONFIG_FILES[0]} in ${cwd}: create one that exports the options of SyncMachines.start ` +
    '({ orm, redis, machines, ... }, or a function returning them), or pass --config <file>. See the README, "Configuration".');
}

/**
 * A .ts config that Node read as JavaScript: a trial's `--config src/sync-machine.config.ts` said only "Unexpected
 * token '{'". The README's examples run with ts-node loaded (the specs' config is TypeScript).
 */
export function typeScriptHint(file: string, error: unknown): string {
  // ts-node 10 needs TypeScript's JavaScript API, which TypeScript 7 (the native compiler) does not ship: a trial's
  // `npm install typescript` took 7.0.2, and the config's ts-node register failed with "reading 'fileExists'".
  if (error instanceof Error && /[\\/]ts-node[\\/]/.test(error.stack ?? '')) {
    return '. The error came from ts-node: ts-node 10 runs on TypeScript 5 and earlier, not 7 (`npm ls typescript` says ' +
      'which one it found; `npm install -D typescript@5` fixes that), or point --config at a compiled config.';
  }
  if (!/\.[cm]?ts$/.test(file) || !(error instanceof SyntaxError || /Unknown file extension/.test(describeError(error)))) return '';
  return '. A TypeScript config needs a TypeScript loader in the process: point --config at the compiled .js (as in ' +
    'production), or run the CLI under one (node -r ts-node/register node_modules/.bin/sync-machine …).';
}

/** Loads and evaluates the config; its errors (a database that is down, a typo) come back as CliErrors naming the file. */
export async function loadConfig(cwd: string, given: string | undefined, from: ConfigSource = '--config'): Promise<LoadedConfig> {
  const file = findConfigFile(cwd, given, from);
  let exported: unknown;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    exported = require(file);
  } catch (error) {
    throw new CliError(`Cannot load ${file}: ${describeError(error)}${typeScriptHint(file, error)}`, { cause: error });
  }
  const value = unwrapDefault(exported);
  let config: unknown;
  try {
    config = typeof value === 'function' ? await (value as () => unknown)() : value;
  } catch (error) {
    if (error instanceof SyncMachineError) throw error;
    throw new CliError(`${file} failed: ${describeError(error)}`, { cause: error });
  }
  config = unwrapDefault(config);
  if (!config || typeof config !== 'object') {
    throw new CliError(`${file} must export the options of SyncMachines.start ({ orm, redis, machines, ... }) or a function ` +
      `returning them; it exports ${config === null ? 'null' : typeof config}.`);
  }
  const close = (config as SyncMachineConfig).close;
  if (close !== undefined && typeof close !== 'function') throw new CliError(`${file}: \`close\` must be a function.`);
  // A config takes `close` besides the start options; a misspelled one (`clsoe`) would be the start's to refuse,
  // which lists its own options only.
  refuseUnknownOptions(config, [...START_OPTIONS, 'close'], file);
  // Its worker options too, though only `worker` runs them: a misspelled one (`concurency`) passed every other command.
  const worker = (config as SyncMachineConfig).worker;
  if (worker !== undefined) resolveWorker(worker);
  return { file, config: config as SyncMachineConfig };
}

/** `export default` compiled to CommonJS, or an ES module loaded through require(). */
function unwrapDefault(value: unknown): unknown {
  const v = value as { __esModule?: boolean; default?: unknown } | null;
  if (v && typeof v === 'object' && 'default' in v && (v.__esModule || Object.keys(v).length === 1)) return v.default;
  return value;
}
