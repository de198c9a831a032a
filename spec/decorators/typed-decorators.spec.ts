import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const ROOT = join(__dirname, '..', '..');
const FIXTURE = join(__dirname, 'fixtures', 'typed-decorators.fixture.ts');

/** Type-checks `files` with the repository's compiler options; resolves tsc's output and exit code. */
async function typeCheck(files: string[]): Promise<{ code: number; output: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'sync-machine-types-'));
  try {
    const project = join(dir, 'tsconfig.json');
    writeFileSync(project, JSON.stringify({
      extends: join(ROOT, 'tsconfig.json'), compilerOptions: { noEmit: true, types: ['node'], typeRoots: [join(ROOT, 'node_modules', '@types')] }, files, include: [],
    }));
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    return await promisify(execFile)(process.execPath, [tsc, '-p', project])
      .then(() => ({ code: 0, output: '' }))
      .catch((error: { code: number; stdout: string }) => ({ code: error.code, output: error.stdout }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('typed decorators and Snapshot<E> (compile time)', function () {
  this.timeout(120_000);

  it('accepts the right uses and refuses each wrong one marked @ts-expect-error', async () => {
    const { code, output } = await typeCheck([FIXTURE]);
    expect(output).to.equal('');
    expect(code).to.equal(0);
  });

  it('reports an error for a wrong field once the @ts-expect-error is taken away (the check can fail)', async () => {
    const dir = mkdtempSync(join(__dirname, 'fixtures', 'tmp-'));
    try {
      const copy = join(dir, 'unmarked.fixture.ts');
      const { readFileSync } = await import('node:fs');
      const text = readFileSync(FIXTURE, 'utf8').replace("from '../../../lib'", "from '../../../../lib'")
        .replace("// @ts-expect-error 'price' is not a property of Variant\n", '');
      writeFileSync(copy, text);
      const { code, output } = await typeCheck([copy]);
      expect(code).to.not.equal(0);
      expect(output).to.match(/unmarked\.fixture\.ts\(\d+,\d+\): error TS2322: Type '"price"' is not assignable to type/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
