import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInProcess } from './support/cli-world';

/** The command line itself: help for every command, exit codes, and errors without stack traces. */
describe('sync-machine command line', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'sync-machine-cli-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('has --help for every command, with exit code 0', async () => {
    const top = await runInProcess(['--help']);
    expect(top.code).to.equal(0);
    for (const command of ['generate', 'worker', 'resync', 'status', 'retry-failed', 'diff', 'drain']) {
      expect(top.stdout).to.match(new RegExp(`\\n  ${command} `));
      const help = await runInProcess([command, '--help']);
      expect(help.code, command).to.equal(0);
      expect(help.stdout, command).to.match(new RegExp(`^Usage: sync-machine ${command} `));
    }
  });

  it('says in resync --help that --where works on both ORMs (no stale "(TypeORM)")', async () => {
    const help = await runInProcess(['resync', '--help']);
    expect(help.stdout).to.match(/--where <json> +only subjects whose columns equal these values: --where/);
    expect(help.stdout).to.not.include('TypeORM');
  });

  it('exits 2 on a wrong command line and says so', async () => {
    const unknown = await runInProcess(['publish']);
    expect(unknown.code).to.equal(2);
    expect(unknown.stderr).to.equal("error: unknown command 'publish'\n(run with --help for usage)\n");
    const missing = await runInProcess(['resync']);
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.include("error: missing required argument 'machine'");
    const badNumber = await runInProcess(['status', '--limit', 'many']);
    expect(badNumber.code).to.equal(2);
    expect(badNumber.stderr).to.include("error: option '--limit <n>' argument 'many' is invalid. expected a whole number (0 or more).");
    // An empty id is most often one a script failed to fill in: refused, not skipped.
    const emptyId = await runInProcess(['resync', 'OrderToApiSync', '--ids', '1,,2']);
    expect(emptyId.code).to.equal(2);
    expect(emptyId.stderr).to.include('expected subject ids separated by commas, e.g. --ids 1,2,3; "1,,2" has an empty one.');
  });

  it('exits 1 without a stack trace when the config is missing or fails, naming the file', async () => {
    const none = await runInProcess(['status'], dir);
    expect(none.code).to.equal(1);
    expect(none.stderr).to.equal(`sync-machine: No sync-machine.config.js in ${dir}: create one that exports the options of ` +
      'SyncMachines.start ({ orm, redis, machines, ... }, or a function returning them), or pass --config <file>. ' +
      'See the README, "Configuration".\n');

    const file = join(dir, 'sync-machine.config.js');
    writeFileSync(file, "module.exports = async () => { throw new Error('connect ECONNREFUSED 127.0.0.1:5999'); };\n");
    const failing = await runInProcess(['status'], dir);
    expect([failing.code, failing.stderr]).to.deep.equal([1, `sync-machine: ${file} failed: connect ECONNREFUSED 127.0.0.1:5999\n`]);
    const debug = await runInProcess(['status', '--debug'], dir);
    expect(debug.stderr).to.match(/connect ECONNREFUSED 127\.0\.0\.1:5999\n\s+at /); // the stack, when asked for

    // A config whose TypeScript loader fails (ts-node 10 under TypeScript 7, a trial): said, and --debug shows where.
    mkdirSync(join(dir, 'node_modules', 'ts-node'), { recursive: true });
    writeFileSync(join(dir, 'node_modules', 'ts-node', 'index.js'), 'exports.register = () => { const ts = {}; return ts.sys.fileExists(); };\n');
    const loaderConfig = join(dir, 'loader.config.js');
    writeFileSync(loaderConfig, "require('ts-node').register();\nmodule.exports = {};\n");
    const loader = await runInProcess(['status', '--config', 'loader.config.js'], dir);
    expect(loader.code).to.equal(1);
    expect(loader.stderr).to.equal(`sync-machine: Cannot load ${loaderConfig}: Cannot read properties of undefined (reading ` +
      "'fileExists'). The error came from ts-node: ts-node 10 runs on TypeScript 5 and earlier, not 7 (`npm ls typescript` " +
      'says which one it found; `npm install -D typescript@5` fixes that), or point --config at a compiled config.\n');
    const loaderDebug = await runInProcess(['status', '--config', 'loader.config.js', '--debug'], dir);
    expect(loaderDebug.stderr).to.match(/\nCaused by: TypeError: Cannot read properties of undefined \(reading 'fileExists'\)\n\s+at .*node_modules[\\/]ts-node[\\/]index\.js/);

    const missing = await runInProcess(['status', '--config', 'nope.js'], dir);
    expect([missing.code, missing.stderr]).to.deep.equal([1, `sync-machine: --config nope.js: no such file (looked for ${join(dir, 'nope.js')}).\n`]);

    process.env.SYNC_MACHINE_CONFIG = 'gone.js';
    try {
      const fromEnv = await runInProcess(['status'], dir);
      expect([fromEnv.code, fromEnv.stderr]).to.deep.equal([1,
        `sync-machine: SYNC_MACHINE_CONFIG=gone.js: no such file (looked for ${join(dir, 'gone.js')}).\n`]);
    } finally {
      delete process.env.SYNC_MACHINE_CONFIG;
    }

    // A misspelled option of the config, `close` included, and of its worker, which only `worker` would run.
    writeFileSync(join(dir, 'typo.config.js'), "module.exports = { orm: {}, redis: 'redis://127.0.0.1:6379', machines: [], clsoe: () => {} };\n");
    const typo = await runInProcess(['status', '--config', 'typo.config.js'], dir);
    expect([typo.code, typo.stderr]).to.deep.equal([1, `sync-machine: ${join(dir, 'typo.config.js')}: unknown option "clsoe"; did ` +
      'you mean "close"? It takes `orm`, `redis`, `machines`, `worker`, `prefix`, `logger`, `capture`, `outboxPollMs`, `captureTimeoutMs`, `close`.\n']);
    writeFileSync(join(dir, 'worker.config.js'), "module.exports = { orm: {}, redis: 'redis://127.0.0.1:6379', machines: [], worker: { concurency: 2 } };\n");
    const workerTypo = await runInProcess(['status', '--config', 'worker.config.js'], dir);
    expect(workerTypo.code).to.equal(1);
    expect(workerTypo.stderr).to.match(/^sync-machine: SyncMachines.start\(\{ worker \}\): unknown option "concurency"; did you mean "concurrency"\?/);

    writeFileSync(join(dir, 'plain.config.js'), "module.exports = { orm: {}, redis: 'redis://127.0.0.1:6379', machines: [] };\n");
    const invalid = await runInProcess(['status', '--config', 'plain.config.js'], dir);
    expect(invalid.code).to.equal(1);
    expect(invalid.stderr).to.match(/^sync-machine: orm: expected a TypeORM DataSource or a MikroORM instance, got a plain object/);
  });
});
