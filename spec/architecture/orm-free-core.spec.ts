import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const ORM_MODULE = /^(typeorm|@mikro-orm\/[^/]+)(\/|$)/;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Every module specifier a file names: static imports and re-exports, require() and import(). */
function specifiers(source: string): Array<{ module: string; typeOnly: boolean; lazy: boolean }> {
  // Code generators keep the code they write in template literals: that text is not an import of this file.
  const text = source.replace(/`(?:\\[\s\S]|[^`\\])*`/g, '``');
  const found: Array<{ module: string; typeOnly: boolean; lazy: boolean }> = [];
  for (const m of text.matchAll(/^\s*(import|export)\s+(type\s+)?[^;]*?\bfrom\s+['"]([^'"]+)['"]/gm)) {
    found.push({ module: m[3], typeOnly: !!m[2], lazy: false });
  }
  for (const m of text.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm)) found.push({ module: m[1], typeOnly: false, lazy: false });
  for (const m of text.matchAll(/\b(require|import)\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    found.push({ module: m[2], typeOnly: m[1] === 'import' && /typeof\s+$/.test(text.slice(0, m.index)), lazy: true });
  }
  return found;
}

/**
 * The core never imports an ORM: an app installs only its own ORM, and the adapters are the one place that
 * knows one. lib/ reaches an adapter only lazily (require() once it has recognised the ORM it was given).
 */
describe('the ORM-agnostic core', () => {
  const files = [...sources(join(ROOT, 'lib')), ...sources(join(ROOT, 'decorators'))];

  it('has files to check', () => {
    expect(files.length).to.be.greaterThan(10);
  });

  it('no file under lib/ or decorators/ imports typeorm or @mikro-orm/*', () => {
    const offenders = files.flatMap((file) => specifiers(readFileSync(file, 'utf8'))
      .filter((s) => ORM_MODULE.test(s.module))
      .map((s) => `${relative(ROOT, file)} imports ${s.module}`));
    expect(offenders).to.deep.equal([]);
  });

  it('lib/ loads an adapter only lazily, never by a static import', () => {
    const offenders = files.flatMap((file) => specifiers(readFileSync(file, 'utf8'))
      .filter((s) => /\/adapters\//.test(s.module) && !s.lazy && !s.typeOnly)
      .map((s) => `${relative(ROOT, file)} imports ${s.module}`));
    expect(offenders).to.deep.equal([]);
  });

  it('catches what it looks for', () => {
    const sample = "import { DataSource } from 'typeorm';\nimport type { X } from '@mikro-orm/core';\n" +
      "const a = require('@mikro-orm/sqlite');\nimport '../adapters/typeorm/x';\n" +
      "const template = `import { Migration } from '@mikro-orm/migrations';\n`;\n";
    expect(specifiers(sample).map((s) => s.module).filter((m) => ORM_MODULE.test(m)))
      .to.deep.equal(['typeorm', '@mikro-orm/core', '@mikro-orm/sqlite']);
    expect(specifiers(sample).find((s) => s.module === '../adapters/typeorm/x')).to.include({ lazy: false, typeOnly: false });
  });
});

/** sync-machine/nestjs works with either ORM, and only apps that use Nest load Nest. */
describe('the NestJS adapter', () => {
  const nest = sources(join(ROOT, 'adapters', 'nestjs'));
  const core = [...sources(join(ROOT, 'lib')), ...sources(join(ROOT, 'decorators'))];

  it('imports no ORM', () => {
    expect(nest.length).to.be.greaterThan(2);
    const offenders = nest.flatMap((file) => specifiers(readFileSync(file, 'utf8'))
      .filter((s) => ORM_MODULE.test(s.module))
      .map((s) => `${relative(ROOT, file)} imports ${s.module}`));
    expect(offenders).to.deep.equal([]);
  });

  it('is the only place that imports @nestjs/*', () => {
    const offenders = core.flatMap((file) => specifiers(readFileSync(file, 'utf8'))
      .filter((s) => /^@nestjs\//.test(s.module))
      .map((s) => `${relative(ROOT, file)} imports ${s.module}`));
    expect(offenders).to.deep.equal([]);
  });
});
