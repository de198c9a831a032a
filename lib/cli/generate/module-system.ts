import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** How the app's compiled files load each other, which decides how the generator writes relative imports. */
export interface ModuleSystem {
  /** Relative imports need their `.js` extension (ESM under Node, or TypeScript's node16/nodenext rules). */
  esm: boolean;
  /** Why, for the generator's report: `package.json "type": "module"`, `tsconfig.json "module": "nodenext"`. */
  reason?: string;
}

/** tsconfig.json is JSON with comments and trailing commas: read it leniently, and without failing. */
function readTsconfig(root: string): { module?: string; moduleResolution?: string } {
  let text: string;
  try {
    text = readFileSync(join(root, 'tsconfig.json'), 'utf8');
  } catch {
    return {};
  }
  // Only the two options are needed: find them by name rather than parse the whole file (comments, `extends`).
  const option = (name: string) => new RegExp(`"${name}"\\s*:\\s*"([^"]+)"`).exec(text)?.[1]?.toLowerCase();
  return { module: option('module'), moduleResolution: option('moduleResolution') };
}

const NODE_ESM = new Set(['node16', 'node18', 'node20', 'nodenext']);

/**
 * An app is treated as ESM when its package.json says `"type": "module"`, or its tsconfig's `module` or
 * `moduleResolution` is node16/node18/node20/nodenext: under those, TypeScript refuses a relative import without its
 * extension in an ES module (TS2835), and `.js` is valid in CommonJS output too, so it is the safe choice.
 */
export function detectModuleSystem(root: string): ModuleSystem {
  try {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    if (pkg?.type === 'module') return { esm: true, reason: 'package.json "type": "module"' };
  } catch {
    // No or unreadable package.json: the tsconfig decides.
  }
  const tsconfig = readTsconfig(root);
  for (const name of ['module', 'moduleResolution'] as const) {
    const value = tsconfig[name];
    if (value && NODE_ESM.has(value)) return { esm: true, reason: `tsconfig.json "${name}": "${value}"` };
  }
  return { esm: false };
}

/** A relative import specifier for `name` (a module path without extension) as the app's module system wants it. */
export function specifier(name: string, system: ModuleSystem): string {
  return system.esm ? `${name}.js` : name;
}
