import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

export const ROOT = join(__dirname, '..', '..', '..');
export const run = promisify(execFile);

/** The folders the package ships (package.json `files`). */
export const SHIPPED = ['lib', 'adapters', 'decorators', 'bin'];

/**
 * The package as npm would install it: `dirs` (the shipped folders, and the demo for specs that run it)
 * compiled to their own dist (not the repository's, which other work may be rebuilding), package.json, and the
 * repository's node_modules for its dependencies. Inside it, `require('sync-machine')` resolves to this build
 * (a package may import itself by name), so a demo compiled with it runs against it.
 */
export async function buildPackage(into: string, dirs: string[] = SHIPPED): Promise<void> {
  symlinkSync(join(ROOT, 'node_modules'), join(into, 'node_modules'));
  copyFileSync(join(ROOT, 'package.json'), join(into, 'package.json'));
  const tsconfig = join(into, 'tsconfig.build.json');
  writeFileSync(tsconfig, JSON.stringify({
    extends: join(ROOT, 'tsconfig.json'),
    compilerOptions: { outDir: join(into, 'dist'), rootDir: ROOT, types: ['node'] },
    include: dirs.map((dir) => join(ROOT, dir)),
  }));
  await tsc(tsconfig, 'the package');
  // What the package's postbuild step copies: the Lua scripts are not TypeScript.
  cpSync(join(ROOT, 'lib', 'redis', 'scripts'), join(into, 'dist', 'lib', 'redis', 'scripts'), { recursive: true });
}

export async function tsc(project: string, what: string): Promise<void> {
  await run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project])
    .catch((error) => { throw new Error(`${what} does not compile:\n${error.stdout}`); });
}

/** Writes an app's files (path → text) under `app`. */
export function writeFiles(app: string, files: Record<string, string>): void {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(app, path, '..'), { recursive: true });
    writeFileSync(join(app, path), text);
  }
}

/** What `npm install` would leave in `app`: the package, its bin linked and executable, and `dependencies` from the repository. */
export function installInto(app: string, pkg: string, dependencies: string[]): void {
  mkdirSync(join(app, 'node_modules', '.bin'), { recursive: true });
  symlinkSync(pkg, join(app, 'node_modules', 'sync-machine'));
  for (const name of dependencies) {
    mkdirSync(join(app, 'node_modules', name, '..'), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules', name), join(app, 'node_modules', name));
  }
  chmodSync(join(pkg, 'dist', 'bin', 'sync-machine.js'), 0o755);
  symlinkSync('../sync-machine/dist/bin/sync-machine.js', join(app, 'node_modules', '.bin', 'sync-machine'));
}

/** What the app's developer writes into a generated machine: the payload's fields and the call to the API. */
export function fillIn(machine: string): string {
  const edits: Array<[string, string]> = [
    ['  // TODO: the fields the API expects\n', '  order_status: string;\n'],
    ['      id: String(order.id),\n', '      id: String(order.id),\n      order_status: order.status,\n'],
    [machine.slice(machine.indexOf('    // TODO: send the payload'), machine.indexOf('  }\n', machine.indexOf('    // TODO: send the payload'))),
      `    const res = await fetch(\`\${process.env.PARTNER_API_URL}/orders/\${payload.id}\`, {
      method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload), signal: ctx.signal,
    });
    if (!res.ok) throw new Error(\`partner API answered \${res.status} for Order \${order.id}\`);
`],
  ];
  return edits.reduce((text, [from, to]) => {
    if (!text.includes(from)) throw new Error(`the generated machine no longer contains ${JSON.stringify(from)}`);
    return text.replace(from, to);
  }, machine);
}
